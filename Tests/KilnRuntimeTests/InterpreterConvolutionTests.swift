import XCTest
import KilnIR
@testable import KilnRuntime

/// Convolutions and pooling against direct loops written here.
final class InterpreterConvolutionTests: XCTestCase {
    /// out[n,y,x,o] = b[o] + sum x[n, y*s-pt+i*d, x*s-pl+j*d, g*Cg+ci] * w[i,j,ci,o], zero padding.
    func directConv2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], _ bias: [Double]?, stride: [Int], pad: [Int], dil: [Int], groups: Int, out os: [Int]) -> [Double] {
        var out = [Double](repeating: 0, count: os.reduce(1, *))
        let og = ws[3] / groups
        for n in 0..<os[0] { for y in 0..<os[1] { for xo in 0..<os[2] { for o in 0..<os[3] {
            var acc = bias?[o] ?? 0
            let g = o / og
            for i in 0..<ws[0] { for j in 0..<ws[1] { for ci in 0..<ws[2] {
                let iy = y * stride[0] - pad[0] + i * dil[0], ix = xo * stride[1] - pad[2] + j * dil[1]
                guard iy >= 0, iy < xs[1], ix >= 0, ix < xs[2] else { continue }
                acc += x[((n * xs[1] + iy) * xs[2] + ix) * xs[3] + g * ws[2] + ci] * w[((i * ws[1] + j) * ws[2] + ci) * ws[3] + o]
            } } }
            out[((n * os[1] + y) * os[2] + xo) * os[3] + o] = acc
        } } } }
        return out
    }

    func checkConv(x xs: [Int], w ws: [Int], bias: Bool, stride: [Int], pad: [Int], dil: [Int], groups: Int, line: UInt = #line) throws {
        var types = [TensorType(.f32, xs), TensorType(.f32, ws)]
        if bias { types.append(TensorType(.f32, [ws[3]])) }
        let c = try OpCase(.conv2d, types, ["stride": .ints(stride), "padding": .ints(pad), "dilation": .ints(dil), "groups": .int(groups)])
        let want = directConv2d(c.inputs[0], xs, c.inputs[1], ws, bias ? c.inputs[2] : nil, stride: stride, pad: pad, dil: dil, groups: groups, out: c.outTypes[0].shape)
        assertClose(c.outputs[0], want, tol: 1e-12, "conv \(xs) \(ws)", line: line)
    }

    func testConv2dVariants() throws {
        try checkConv(x: [2, 7, 6, 3], w: [3, 3, 3, 5], bias: true, stride: [1, 1], pad: [1, 1, 1, 1], dil: [1, 1], groups: 1)
        try checkConv(x: [1, 9, 8, 4], w: [3, 2, 4, 6], bias: false, stride: [2, 3], pad: [0, 2, 1, 0], dil: [1, 1], groups: 1)
        try checkConv(x: [1, 11, 10, 2], w: [3, 3, 2, 3], bias: true, stride: [1, 1], pad: [2, 2, 2, 2], dil: [2, 2], groups: 1)
        try checkConv(x: [2, 6, 6, 6], w: [3, 3, 2, 9], bias: true, stride: [1, 2], pad: [1, 1, 1, 1], dil: [1, 1], groups: 3)
        try checkConv(x: [1, 8, 8, 5], w: [7, 7, 1, 5], bias: true, stride: [1, 1], pad: [3, 3, 3, 3], dil: [1, 1], groups: 5)  // depthwise
        try checkConv(x: [1, 1, 1, 4], w: [1, 1, 4, 2], bias: true, stride: [1, 1], pad: [0, 0, 0, 0], dil: [1, 1], groups: 1)  // 1x1 image
    }

    func testCausalDilatedConv1d() throws {
        let (n, t, c, k, o, d) = (2, 13, 3, 3, 4, 2)
        let cs = try OpCase(.conv1d, [.f32(n, t, c), .f32(k, c, o), .f32(o)], ["padding": .ints([(k - 1) * d, 0]), "dilation": .int(d)])
        let (x, w, b) = (cs.inputs[0], cs.inputs[1], cs.inputs[2])
        var want = [Double](repeating: 0, count: n * t * o)
        for bb in 0..<n { for tt in 0..<t { for oo in 0..<o {
            var acc = b[oo]
            for i in 0..<k {
                let src = tt - (k - 1 - i) * d   // causal: only the past
                if src < 0 { continue }
                for ci in 0..<c { acc += x[(bb * t + src) * c + ci] * w[(i * c + ci) * o + oo] }
            }
            want[(bb * t + tt) * o + oo] = acc
        } } }
        assertClose(cs.outputs[0], want, tol: 1e-12)
    }

    func testPooling() throws {
        let attrs: Attributes = ["window": .ints([3, 2]), "stride": .ints([2, 1]), "padding": .ints([1, 1, 0, 1])]
        let mx = try OpCase(.max_pool2d, [.f32(1, 5, 4, 2)], attrs)
        let av = try OpCase(.avg_pool2d, [.f32(1, 5, 4, 2)], attrs)
        let x = mx.inputs[0], os = mx.outTypes[0].shape
        for y in 0..<os[1] { for xo in 0..<os[2] { for ch in 0..<2 {
            var vals: [Double] = []
            for i in 0..<3 { for j in 0..<2 {
                let iy = y * 2 - 1 + i, ix = xo - 0 + j
                if iy >= 0, iy < 5, ix >= 0, ix < 4 { vals.append(x[(iy * 4 + ix) * 2 + ch]) }
            } }
            let at = (y * os[2] + xo) * 2 + ch
            XCTAssertEqual(mx.outputs[0][at], vals.max()!, accuracy: 1e-12)
            XCTAssertEqual(av.outputs[0][at], vals.reduce(0, +) / Double(vals.count), accuracy: 1e-12)
        } } }
    }
}

/// The conv2d gradient ops satisfy the adjoint identity with the (independently checked)
/// forward conv2d: <conv(x, w), g> = <x, bwd_input(g, w)> = <w, bwd_weight(x, g)>.
final class ConvolutionGradientOpTests: XCTestCase {
    func testAdjointIdentity() throws {
        let cases: [([Int], [Int], Attributes)] = [
            ([2, 7, 6, 4], [3, 3, 2, 6], ["stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)]),
            ([1, 8, 8, 5], [7, 7, 1, 5], ["padding": .ints([3, 3, 3, 3]), "groups": .int(5)]),
            ([1, 5, 6, 3], [2, 3, 3, 4], ["stride": .ints([2, 3])]),
        ]
        for (xs, ws, attrs) in cases {
            let fwd = try OpCase(.conv2d, [TensorType(.f32, xs), TensorType(.f32, ws)], attrs)
            let (x, w, y) = (fwd.inputs[0], fwd.inputs[1], fwd.outputs[0])
            let os = fwd.outTypes[0].shape
            let g = randoms(y.count, seed: 77)
            var inAttrs = attrs, wAttrs = attrs
            inAttrs["input_size"] = .ints([xs[1], xs[2]])
            wAttrs["kernel"] = .ints([ws[0], ws[1]])
            let dx = try OpCase(.conv2d_backward_input, [TensorType(.f32, os), TensorType(.f32, ws)], inAttrs, values: [g, w]).outputs[0]
            let dw = try OpCase(.conv2d_backward_weight, [TensorType(.f32, xs), TensorType(.f32, os)], wAttrs, values: [x, g]).outputs[0]
            let lhs = zip(y, g).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(zip(x, dx).reduce(0) { $0 + $1.0 * $1.1 }, lhs, accuracy: 1e-9 * max(1, abs(lhs)), "input gradient \(attrs)")
            XCTAssertEqual(zip(w, dw).reduce(0) { $0 + $1.0 * $1.1 }, lhs, accuracy: 1e-9 * max(1, abs(lhs)), "weight gradient \(attrs)")
        }
    }
}
