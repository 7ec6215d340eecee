import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// Inputs at the edges of the math (no-decay and near-total-decay gates, beta 0 and 1,
/// length-1 sequences, constant rows, logits of ±1e4, 1x1 images) give finite results that
/// match plain fp64 formulas written here, in the interpreter (f32 and f64) and in the
/// compiled and unfused executors at 1 and 2 threads.
final class NumericalEdgeCaseTests: XCTestCase {
    /// Runs `f` everywhere; returns (label, results as Double) per executor.
    func runEverywhere(_ f: Function, _ inputs: [String: HostTensor]) throws -> [(String, [[Double]])] {
        var out: [(String, [[Double]])] = []
        out.append(("interpreter f64", try Interpreter(precision: .f64).run(f, inputs: inputs).map(\.doubles)))
        out.append(("interpreter f32", try Interpreter().run(f, inputs: inputs).map(\.doubles)))
        for kind in ExecutorKind.allCases {
            for threads in [1, 2] {
                out.append(("\(kind) threads \(threads)", try Executable(f, kind: kind, threads: threads).run(inputs).map(\.doubles)))
            }
        }
        return out
    }

    /// Asserts every executor's first result is finite and within `tol` (|a - b| / (1 + |b|)) of `want`.
    func assertEverywhere(_ f: Function, _ inputs: [String: HostTensor], _ want: [Double], tol: Double, _ what: String,
                          line: UInt = #line) throws {
        for (label, results) in try runEverywhere(f, inputs) {
            let got = results[0]
            XCTAssertEqual(got.count, want.count, "\(what): \(label)", line: line)
            if let bad = got.firstIndex(where: { !$0.isFinite }) {
                XCTFail("\(what): \(label): non-finite \(got[bad]) at \(bad)", line: line)
                continue
            }
            let worst = zip(got, want).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, label.hasSuffix("f64") ? 1e-9 : tol, "\(what): \(label)", line: line)
        }
    }

    func function(_ op: OpKind, _ types: [TensorType], _ attrs: Attributes) throws -> Function {
        let b = FunctionBuilder(name: "edge")
        let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
        return b.finish(results: try b.add(op, ids, attributes: attrs))
    }

    func bind(_ types: [TensorType], _ values: [[Double]]) -> [String: HostTensor] {
        var out: [String: HostTensor] = [:]
        for (i, (t, v)) in zip(types, values).enumerated() { out["in\(i)"] = HostTensor(shape: t.shape, floats: v.map { Float($0) }) }
        return out
    }

    // MARK: linear attention

    struct Dims {
        var t: Int
        var b = 1, h = 2, dk = 8, dv = 4
    }

    /// The fp64 recurrence of IR/semantics.md, state by state: o_t = scale * S_t^T q_t.
    func recurrence(_ gate: LinearAttentionGate, _ d: Dims, q: [Double], k: [Double], v: [Double], g: [Double], scale: Double) -> [Double] {
        var o = [Double](repeating: 0, count: d.b * d.t * d.h * d.dv)
        for b in 0..<d.b {
            for h in 0..<d.h {
                var s = [[Double]](repeating: [Double](repeating: 0, count: d.dv), count: d.dk)
                for t in 0..<d.t {
                    let row = (b * d.t + t) * d.h + h
                    let kt = Array(k[(row * d.dk)..<((row + 1) * d.dk)]), vt = Array(v[(row * d.dv)..<((row + 1) * d.dv)])
                    switch gate {
                    case .none: break
                    case .scalar: for i in 0..<d.dk { for j in 0..<d.dv { s[i][j] *= exp(g[row]) } }
                    case .key: for i in 0..<d.dk { for j in 0..<d.dv { s[i][j] *= exp(g[row * d.dk + i]) } }
                    case .delta: break
                    }
                    if gate == .delta {
                        let beta = g[row]
                        let sk = (0..<d.dv).map { j in (0..<d.dk).map { s[$0][j] * kt[$0] }.reduce(0, +) }
                        for i in 0..<d.dk { for j in 0..<d.dv { s[i][j] += beta * kt[i] * (vt[j] - sk[j]) } }
                    } else {
                        for i in 0..<d.dk { for j in 0..<d.dv { s[i][j] += kt[i] * vt[j] } }
                    }
                    for j in 0..<d.dv {
                        o[row * d.dv + j] = scale * (0..<d.dk).map { s[$0][j] * q[row * d.dk + $0] }.reduce(0, +)
                    }
                }
            }
        }
        return o
    }

    /// Runs one linear_attention case with gate values from `gateValue(index)`.
    func checkLinearAttention(_ gate: LinearAttentionGate, t: Int, chunk: Int = 0, _ what: String,
                              gateValue: (Int) -> Double) throws {
        let d = Dims(t: t)
        var types: [TensorType] = [.f32(d.b, d.t, d.h, d.dk), .f32(d.b, d.t, d.h, d.dk), .f32(d.b, d.t, d.h, d.dv)]
        if gate == .key { types.append(.f32(d.b, d.t, d.h, d.dk)) } else if gate != .none { types.append(.f32(d.b, d.t, d.h)) }
        let q = randoms(types[0].elementCount, seed: 1)
        var k = randoms(types[1].elementCount, seed: 2)
        if gate == .delta {
            // Unit keys, as DeltaNet uses: with beta = 1 the update is a projection, and stays bounded.
            for r in stride(from: 0, to: k.count, by: d.dk) {
                let n = k[r..<(r + d.dk)].map { $0 * $0 }.reduce(0, +).squareRoot()
                for i in r..<(r + d.dk) { k[i] /= n }
            }
        }
        let v = randoms(types[2].elementCount, seed: 3)
        var values = [q, k, v]
        var g: [Double] = []
        if types.count > 3 { g = (0..<types[3].elementCount).map(gateValue); values.append(g) }
        // Round through f32 so the oracle sees exactly what the executors see.
        values = values.map { $0.map { Double(Float($0)) } }
        let f = try function(.linear_attention, types, ["gate": .symbol(gate.rawValue), "scale": .float(0.5), "chunk": .int(chunk)])
        let want = recurrence(gate, d, q: values[0], k: values[1], v: values[2], g: types.count > 3 ? values[3] : [], scale: 0.5)
        try assertEverywhere(f, bind(types, values), want, tol: 2e-5, "\(what) T=\(t) chunk=\(chunk)")
    }

    func testLinearAttentionGatesAtZeroAndNearMinusThirty() throws {
        for t in [1, 37] {
            for chunk in [0, 16] {
                for gate in [LinearAttentionGate.scalar, .key] {
                    try checkLinearAttention(gate, t: t, chunk: chunk, "\(gate) gate 0") { _ in 0 }
                    try checkLinearAttention(gate, t: t, chunk: chunk, "\(gate) gate -30") { _ in -30 }
                    // Mixed: alternating no decay and near-total decay, the widest log-space spread.
                    try checkLinearAttention(gate, t: t, chunk: chunk, "\(gate) gate 0/-29.9") { $0 % 3 == 0 ? -29.9 : 0 }
                }
                try checkLinearAttention(.none, t: t, chunk: chunk, "no gate") { _ in 0 }
            }
        }
    }

    func testLinearAttentionBetaZeroAndOne() throws {
        for t in [1, 37] {
            for chunk in [0, 16] {
                try checkLinearAttention(.delta, t: t, chunk: chunk, "delta beta 0") { _ in 0 }
                try checkLinearAttention(.delta, t: t, chunk: chunk, "delta beta 1") { _ in 1 }
            }
        }
    }

    /// Zero-size dimensions are not part of the IR: a T = 0 sequence is a located verifier error.
    func testZeroLengthSequenceIsAVerifierError() throws {
        let text = """
        func @la(%q: f32[1,0,2,8], %k: f32[1,0,2,8], %v: f32[1,0,2,4]) -> (f32[1,0,2,4]) {
          %0 = linear_attention %q, %k, %v {chunk = 0, final_state = false, gate = none, parallel = false, scale = 0.5} : f32[1,0,2,4]
          return %0
        }
        """
        XCTAssertThrowsError(try parseFunction(text, file: "la.kir")) { error in
            let e = error as! IRError
            XCTAssertEqual(e.location?.line, 1, "\(e)")
            XCTAssertTrue(e.message.contains("dimension 0") && e.message.contains("must be positive"), "\(e)")
        }
        // The builder refuses it too, so no executor ever sees an empty tensor.
        XCTAssertThrowsError(try function(.linear_attention, [.f32(1, 0, 2, 8), .f32(1, 0, 2, 8), .f32(1, 0, 2, 4)],
                                          ["gate": .symbol("none"), "scale": .float(0.5)]))
    }

    // MARK: normalization, softmax, convolution

    func testLayerNormOfConstantRows() throws {
        let c = 64
        let rows: [Double] = [0, 3.7, -1e4, 1e4, 1e-30]
        let x = rows.flatMap { [Double](repeating: $0, count: c) }
        let w = randoms(c, seed: 7, 0.5, 2), b = randoms(c, seed: 8)
        let types: [TensorType] = [.f32(rows.count, c), .f32(c), .f32(c)]
        let f = try function(.layer_norm, types, ["eps": .float(1e-5)])
        // x - mean(x) = 0 in every row, so the output is the bias. In f32 the mean of a row of
        // 3.7s is off by a few ulps, and dividing by sqrt(var + eps) amplifies that residue by
        // up to 1/sqrt(eps) ~ 316: hence 5e-3, still far from a NaN or a blow-up.
        try assertEverywhere(f, bind(types, [x, w, b]), rows.flatMap { _ in b.map { Double(Float($0)) } }, tol: 5e-3, "layer_norm constant rows")
        let rms = try function(.rms_norm, [.f32(2, c), .f32(c)], ["eps": .float(1e-6)])
        try assertEverywhere(rms, bind([.f32(2, c), .f32(c)], [[Double](repeating: 0, count: 2 * c), w]),
                             [Double](repeating: 0, count: 2 * c), tol: 0, "rms_norm of zero rows")
    }

    func testSoftmaxOfLargeLogits() throws {
        let n = 8
        let rows: [[Double]] = [
            [1e4, -1e4, 0, 1e4 - 1, -1e4, 1e4, 5, -5],
            [Double](repeating: -1e4, count: n),
            [Double](repeating: 1e4, count: n),
            (0..<n).map { $0 % 2 == 0 ? 1e4 : -1e4 },
        ]
        func softmax(_ r: [Double]) -> [Double] {
            let m = r.max()!, e = r.map { exp($0 - m) }, s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        func logSoftmax(_ r: [Double]) -> [Double] {
            let m = r.max()!, s = r.map { exp($0 - m) }.reduce(0, +)
            return r.map { $0 - m - log(s) }
        }
        let types: [TensorType] = [.f32(rows.count, n)]
        try assertEverywhere(try function(.softmax, types, ["axis": .int(-1)]), bind(types, [rows.flatMap { $0 }]),
                             rows.flatMap(softmax), tol: 1e-6, "softmax ±1e4")
        try assertEverywhere(try function(.log_softmax, types, ["axis": .int(-1)]), bind(types, [rows.flatMap { $0 }]),
                             rows.flatMap(logSoftmax),
                             tol: 1e-6, "log_softmax ±1e4")
    }

    func testConvolutionOfOneByOneImages() throws {
        let (n, c, o) = (2, 4, 6)
        func f32(_ v: [Double]) -> [Double] { v.map { Double(Float($0)) } }  // what the executors see
        let x = f32(randoms(n * c, seed: 4)), w = f32(randoms(3 * 3 * c * o, seed: 5)), bias = f32(randoms(o, seed: 6))
        // 3x3 kernel, padding 1: only the centre tap sees the single pixel.
        let types: [TensorType] = [.f32(n, 1, 1, c), .f32(3, 3, c, o), .f32(o)]
        let f = try function(.conv2d, types, ["padding": .ints([1, 1, 1, 1]), "stride": .ints([1, 1])])
        var want = [Double](repeating: 0, count: n * o)
        for i in 0..<n {
            for oc in 0..<o {
                var acc = bias[oc]
                for ch in 0..<c { acc += x[i * c + ch] * w[(4 * c + ch) * o + oc] }  // tap (1, 1)
                want[i * o + oc] = acc
            }
        }
        try assertEverywhere(f, bind(types, [x, w, bias]), want, tol: 1e-5, "conv2d 3x3 pad 1 on 1x1")
        // Depthwise (groups = C), 1x1 kernel, no padding.
        let dtypes: [TensorType] = [.f32(n, 1, 1, c), .f32(1, 1, 1, c), .f32(c)]
        let dw = try function(.conv2d, dtypes, ["groups": .int(c)])
        let wd = f32(randoms(c, seed: 9)), bd = f32(randoms(c, seed: 10))
        try assertEverywhere(dw, bind(dtypes, [x, wd, bd]), (0..<n * c).map { x[$0] * wd[$0 % c] + bd[$0 % c] }, tol: 1e-6,
                             "depthwise 1x1 on 1x1")
        // Stride 2 on a 1x1 image still gives one output pixel.
        let s = try function(.conv2d, types, ["padding": .ints([1, 1, 1, 1]), "stride": .ints([2, 2])])
        try assertEverywhere(s, bind(types, [x, w, bias]), want, tol: 1e-5, "conv2d stride 2 on 1x1")
    }
}
