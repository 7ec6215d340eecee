import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// Elementwise, normalization, reduction and layout ops against their formulas.
final class InterpreterOpTests: XCTestCase {
    func testUnaryFormulasIncludingExtremes() throws {
        let extremes = [-100.0, -20, -1, -1e-3, 0, 1e-3, 1, 20, 100]
        let checks: [(OpKind, Attributes, (Double) -> Double)] = [
            (.sigmoid, [:], { 1 / (1 + exp(-$0)) }),
            (.logsigmoid, [:], { $0 < -30 ? $0 : -log1p(exp(-$0)) }),
            (.softplus, [:], { $0 > 30 ? $0 : log1p(exp($0)) }),
            (.gelu, [:], { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }),
            (.gelu, ["approximate": .symbol("tanh")], { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }),
            (.silu, [:], { $0 / (1 + exp(-$0)) }),
            (.tanh, [:], tanh), (.relu, [:], { max($0, 0) }), (.relu6, [:], { min(max($0, 0), 6) }),
            (.abs, [:], { abs($0) }), (.neg, [:], { -$0 }), (.erf, [:], erf), (.step, [:], { $0 > 0 ? 1 : 0 }),
        ]
        for (op, attrs, formula) in checks {
            for precision in [Interpreter.Precision.f32, .f64] {
                let c = try OpCase(op, [.f32(extremes.count)], attrs, precision: precision, values: [extremes])
                assertClose(c.outputs[0], extremes.map(formula), tol: precision == .f32 ? 2e-6 : 1e-12, "\(op) \(precision)")
            }
        }
        // The GELU tail keeps its digits (no 1 + erf cancellation) in fp32.
        let tail = try OpCase(.gelu, [.f32(3)], precision: .f32, values: [[-7, -9, -12]])
        assertClose(tail.outputs[0].map { $0 * 1e10 }, [-7.0, -9, -12].map { 0.5 * $0 * erfc(-$0 / 2.0.squareRoot()) * 1e10 }, tol: 1e-5)
        XCTAssertTrue(tail.outputs[0].allSatisfy { $0 < 0 })
        let pos = try OpCase(.exp, [.f32(5)], values: [[-100, -1, 0, 1, 88]])
        assertClose(pos.outputs[0], [-100, -1, 0, 1, 88].map(exp), tol: 1e-12)
        let lg = try OpCase(.rsqrt, [.f32(3)], values: [[0.25, 1, 4]])
        assertClose(lg.outputs[0], [2, 1, 0.5])
    }

    func testBinaryBroadcasting() throws {
        let c = try OpCase(.sub, [.f32(2, 1, 3), .f32(4, 1)])
        XCTAssertEqual(c.outTypes[0], .f32(2, 4, 3))
        var want: [Double] = []
        for i in 0..<2 { for j in 0..<4 { for k in 0..<3 { want.append(c.inputs[0][i * 3 + k] - c.inputs[1][j]) } } }
        assertClose(c.outputs[0], want)
    }

    func testMatmulBatchBroadcastAndLinear() throws {
        let c = try OpCase(.matmul, [.f32(2, 1, 3, 4), .f32(5, 4, 2)])
        XCTAssertEqual(c.outTypes[0], .f32(2, 5, 3, 2))
        let (a, b) = (c.inputs[0], c.inputs[1])
        var want: [Double] = []
        for i in 0..<2 { for j in 0..<5 { for m in 0..<3 { for n in 0..<2 {
            want.append((0..<4).reduce(0) { $0 + a[(i * 3 + m) * 4 + $1] * b[(j * 4 + $1) * 2 + n] })
        } } } }
        assertClose(c.outputs[0], want)
        let l = try OpCase(.linear, [.f32(3, 4), .f32(4, 5), .f32(5)])
        let (x, w, bias) = (l.inputs[0], l.inputs[1], l.inputs[2])
        var lw: [Double] = []
        for i in 0..<15 {
            var acc: Double = bias[i % 5]
            for p in 0..<4 { acc += x[(i / 5) * 4 + p] * w[p * 5 + i % 5] }
            lw.append(acc)
        }
        assertClose(l.outputs[0], lw)
    }

    func testNormalizations() throws {
        let c = 6
        let ln = try OpCase(.layer_norm, [.f32(3, c), .f32(c), .f32(c)], ["eps": .float(1e-5)])
        let rn = try OpCase(.rms_norm, [.f32(3, c), .f32(c)], ["eps": .float(1e-6)])
        var wl: [Double] = [], wr: [Double] = []
        for r in 0..<3 {
            let row = Array(ln.inputs[0][r * c..<(r + 1) * c])
            let mean = row.reduce(0, +) / Double(c)
            let v = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            wl += (0..<c).map { (row[$0] - mean) / (v + 1e-5).squareRoot() * ln.inputs[1][$0] + ln.inputs[2][$0] }
            let rrow = Array(rn.inputs[0][r * c..<(r + 1) * c])
            let ms = rrow.map { $0 * $0 }.reduce(0, +) / Double(c)
            wr += (0..<c).map { rrow[$0] / (ms + 1e-6).squareRoot() * rn.inputs[1][$0] }
        }
        assertClose(ln.outputs[0], wl)
        assertClose(rn.outputs[0], wr)
        // Layer norm of a constant row is beta, not NaN.
        let constant = try OpCase(.layer_norm, [.f32(1, 4)], values: [[3, 3, 3, 3]])
        assertClose(constant.outputs[0], [0, 0, 0, 0])
    }

    func testBatchNormInferenceAndTraining() throws {
        for training in [false, true] {
            let bn = try OpCase(.batch_norm, [.f32(2, 3, 4), .f32(4), .f32(4), .f32(4), .f32(4)], ["training": .bool(training)], positive: true)
            let x = bn.inputs[0], (g, b, rm, rv) = (bn.inputs[1], bn.inputs[2], bn.inputs[3], bn.inputs[4])
            var want = [Double](repeating: 0, count: 24)
            for ch in 0..<4 {
                let col = stride(from: ch, to: 24, by: 4).map { x[$0] }
                let mean = training ? col.reduce(0, +) / 6 : rm[ch]
                let variance = training ? col.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 6 : rv[ch]
                for i in stride(from: ch, to: 24, by: 4) { want[i] = (x[i] - mean) / (variance + 1e-5).squareRoot() * g[ch] + b[ch] }
            }
            assertClose(bn.outputs[0], want, tol: 1e-12, "training \(training)")
        }
    }

    func testSoftmaxAndLogSoftmaxWithLargeLogits() throws {
        let logits = [1000.0, 999, -1000, 0, 5, 5.5]
        let sm = try OpCase(.softmax, [.f32(2, 3)], ["axis": .int(1)], values: [logits])
        let ls = try OpCase(.log_softmax, [.f32(2, 3)], ["axis": .int(-1)], values: [logits])
        var ws: [Double] = [], wl: [Double] = []
        for r in 0..<2 {
            let row = Array(logits[r * 3..<(r + 1) * 3]), m = row.max()!
            let z = row.map { exp($0 - m) }.reduce(0, +)
            ws += row.map { exp($0 - m) / z }
            wl += row.map { $0 - m - log(z) }
        }
        assertClose(sm.outputs[0], ws)
        assertClose(ls.outputs[0], wl)
        let col = try OpCase(.softmax, [.f32(2, 3)], ["axis": .int(0)])
        for j in 0..<3 {
            let a = col.inputs[0][j], b = col.inputs[0][3 + j]
            XCTAssertEqual(col.outputs[0][j], exp(a) / (exp(a) + exp(b)), accuracy: 1e-12)
        }
    }

    func testReductions() throws {
        let s = try OpCase(.reduce_sum, [.f32(2, 3, 4)], ["axes": .ints([0, 2])])
        let m = try OpCase(.reduce_mean, [.f32(2, 3, 4)], ["axes": .ints([1]), "keepdims": .bool(true)])
        let mx = try OpCase(.reduce_max, [.f32(2, 3, 4)], ["axes": .ints([-1])])
        let x = s.inputs[0]
        let at = { (i: Int, j: Int, k: Int) in x[(i * 3 + j) * 4 + k] }
        assertClose(s.outputs[0], (0..<3).map { j in (0..<2).flatMap { i in (0..<4).map { at(i, j, $0) } }.reduce(0, +) })
        XCTAssertEqual(m.outTypes[0], .f32(2, 1, 4))
        assertClose(m.outputs[0], (0..<2).flatMap { i in (0..<4).map { k in (0..<3).map { at(i, $0, k) }.reduce(0, +) / 3 } })
        assertClose(mx.outputs[0], (0..<2).flatMap { i in (0..<3).map { j in (0..<4).map { at(i, j, $0) }.max()! } })
    }

    func testCumsumAllFlags() throws {
        let x = [1.0, 2, 3, 4, 10, 20, 30, 40]
        let cases: [(Bool, Bool, [Double])] = [
            (false, false, [1, 3, 6, 10, 10, 30, 60, 100]),
            (false, true, [0, 1, 3, 6, 0, 10, 30, 60]),
            (true, false, [10, 9, 7, 4, 100, 90, 70, 40]),
            (true, true, [9, 7, 4, 0, 90, 70, 40, 0]),
        ]
        for (rev, exc, want) in cases {
            let c = try OpCase(.cumsum, [.f32(2, 4)], ["axis": .int(1), "reverse": .bool(rev), "exclusive": .bool(exc)], values: [x])
            assertClose(c.outputs[0], want, "reverse \(rev) exclusive \(exc)")
        }
        let col = try OpCase(.cumsum, [.f32(2, 4)], ["axis": .int(0)], values: [x])
        assertClose(col.outputs[0], [1, 2, 3, 4, 11, 22, 33, 44])
    }

    func testLayoutOps() throws {
        let x = (0..<24).map(Double.init)
        let p = try OpCase(.permute, [.f32(2, 3, 4)], ["perm": .ints([2, 0, 1])], values: [x])
        assertClose(p.outputs[0], (0..<4).flatMap { k in (0..<2).flatMap { i in (0..<3).map { j in x[(i * 3 + j) * 4 + k] } } })
        let s = try OpCase(.slice, [.f32(2, 3, 4)], ["axis": .int(2), "start": .int(1), "end": .int(4), "step": .int(2)], values: [x])
        var sliced: [Double] = []
        for r in 0..<6 { sliced += [x[r * 4 + 1], x[r * 4 + 3]] }
        assertClose(s.outputs[0], sliced)
        let sp = try OpCase(.split, [.f32(2, 3, 4)], ["axis": .int(1), "sizes": .ints([1, 2])], values: [x])
        assertClose(sp.outputs[0], Array(x[0..<4]) + Array(x[12..<16]))
        assertClose(sp.outputs[1], Array(x[4..<12]) + Array(x[16..<24]))
        let cc = try OpCase(.concat, [.f32(2, 1), .f32(2, 2)], ["axis": .int(1)], values: [[1, 2], [3, 4, 5, 6]])
        assertClose(cc.outputs[0], [1, 3, 4, 2, 5, 6])
        let bc = try OpCase(.broadcast, [.f32(3, 1)], ["shape": .ints([2, 3, 2])], values: [[1, 2, 3]])
        assertClose(bc.outputs[0], [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
        let rs = try OpCase(.reshape, [.f32(2, 3)], ["shape": .ints([3, 2])], values: [[1, 2, 3, 4, 5, 6]])
        assertClose(rs.outputs[0], [1, 2, 3, 4, 5, 6])
    }

    func testEmbeddingAndItsErrors() throws {
        let e = try OpCase(.embedding, [.f32(4, 2), .i32(3)], values: [[0, 1, 10, 11, 20, 21, 30, 31], [3, 0, 2]])
        assertClose(e.outputs[0], [30, 31, 0, 1, 20, 21])
        XCTAssertThrowsError(try OpCase(.embedding, [.f32(4, 2), .i32(1)], values: [[0, 0, 0, 0, 0, 0, 0, 0], [7]])) {
            XCTAssertTrue("\($0)".contains("id 7"), "\($0)")
        }
    }
}
