import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// linear_attention against independent forms: the quadratic parallel form for gates
/// none/scalar/key, and the Householder matrix form S = (I - b k k^T) S + b k v^T for delta.
final class InterpreterLinearAttentionTests: XCTestCase {
    struct Shapes { var b, t, h, dk, dv: Int }

    func run(_ gate: LinearAttentionGate, _ s: Shapes, h0: Bool, seed: UInt64) throws -> (ins: [[Double]], o: [Double], state: [Double]) {
        var types: [TensorType] = [.f32(s.b, s.t, s.h, s.dk), .f32(s.b, s.t, s.h, s.dk), .f32(s.b, s.t, s.h, s.dv)]
        if gate == .key { types.append(.f32(s.b, s.t, s.h, s.dk)) } else if gate != .none { types.append(.f32(s.b, s.t, s.h)) }
        if h0 { types.append(.f32(s.b, s.h, s.dk, s.dv)) }
        var values = types.enumerated().map { randoms($1.elementCount, seed: seed + UInt64($0)) }
        if gate == .scalar || gate == .key { values[3] = values[3].map { -log1p(exp(-3 * $0)) } }  // logsigmoid: g <= 0
        if gate == .delta {
            values[3] = values[3].map { 1 / (1 + exp(-2 * $0)) }                                  // beta in (0,1)
            for (i, row) in stride(from: 0, to: values[1].count, by: s.dk).enumerated() where i >= 0 {
                let n = (row..<row + s.dk).map { values[1][$0] * values[1][$0] }.reduce(0, +).squareRoot()
                for j in row..<row + s.dk { values[1][j] /= n }                                    // L2-normalized keys
            }
        }
        let c = try OpCase(.linear_attention, types, ["gate": .symbol(gate.rawValue), "scale": .float(0.7), "final_state": .bool(true)], values: values)
        return (values, c.outputs[0], c.outputs[1])
    }

    /// Quadratic form: o_t = scale * [ sum_{s<=t} sum_d q_td k_sd D_d(s,t) v_s + sum_d q_td D_d(0,t) h0_d ],
    /// with D_d(s,t) = exp(sum_{r=s+1..t} g_rd) (and D(0,t) including g_0).
    func parallelForm(_ gate: LinearAttentionGate, _ s: Shapes, _ ins: [[Double]], h0: Bool) -> [Double] {
        let (q, k, v) = (ins[0], ins[1], ins[2])
        let g: (Int, Int, Int, Int) -> Double = { b, t, h, d in
            switch gate {
            case .scalar: return ins[3][(b * s.t + t) * s.h + h]
            case .key: return ins[3][((b * s.t + t) * s.h + h) * s.dk + d]
            default: return 0
            }
        }
        var o = [Double](repeating: 0, count: s.b * s.t * s.h * s.dv)
        for b in 0..<s.b { for h in 0..<s.h { for t in 0..<s.t { for j in 0..<s.dv {
            var acc = 0.0
            for d in 0..<s.dk {
                let qd = q[((b * s.t + t) * s.h + h) * s.dk + d]
                var logDecay = 0.0   // sum of g over (src, t]
                for src in stride(from: t, through: 0, by: -1) {
                    acc += qd * k[((b * s.t + src) * s.h + h) * s.dk + d] * exp(logDecay) * v[((b * s.t + src) * s.h + h) * s.dv + j]
                    logDecay += g(b, src, h, d)
                }
                if h0 { acc += qd * exp(logDecay) * ins.last![((b * s.h + h) * s.dk + d) * s.dv + j] }
            }
            o[((b * s.t + t) * s.h + h) * s.dv + j] = 0.7 * acc
        } } } }
        return o
    }

    func testUngatedAndGatedMatchParallelForm() throws {
        for gate in [LinearAttentionGate.none, .scalar, .key] {
            for (i, s) in [Shapes(b: 1, t: 1, h: 1, dk: 3, dv: 2), Shapes(b: 2, t: 7, h: 2, dk: 4, dv: 3)].enumerated() {
                for h0 in [false, true] {
                    let r = try run(gate, s, h0: h0, seed: UInt64(10 * i + 1))
                    assertClose(r.o, parallelForm(gate, s, r.ins, h0: h0), tol: 1e-10, "\(gate) \(s) h0 \(h0)")
                }
            }
        }
    }

    func testDeltaRuleMatchesHouseholderForm() throws {
        let s = Shapes(b: 2, t: 9, h: 2, dk: 4, dv: 3)
        for h0 in [false, true] {
            let r = try run(.delta, s, h0: h0, seed: 5)
            let (q, k, v, beta) = (r.ins[0], r.ins[1], r.ins[2], r.ins[3])
            var o = [Double](repeating: 0, count: r.o.count), final = [Double](repeating: 0, count: r.state.count)
            for b in 0..<s.b { for h in 0..<s.h {
                // S as a dk x dv matrix; S <- (I - beta k k^T) S + beta k v^T.
                var S = (0..<s.dk).map { i in (0..<s.dv).map { j in h0 ? r.ins[4][((b * s.h + h) * s.dk + i) * s.dv + j] : 0.0 } }
                for t in 0..<s.t {
                    let row = (b * s.t + t) * s.h + h
                    let kt = (0..<s.dk).map { k[row * s.dk + $0] }, vt = (0..<s.dv).map { v[row * s.dv + $0] }, bt = beta[row]
                    let P = (0..<s.dk).map { i in (0..<s.dk).map { l in (i == l ? 1.0 : 0) - bt * kt[i] * kt[l] } }
                    S = (0..<s.dk).map { i in (0..<s.dv).map { j in (0..<s.dk).reduce(0) { $0 + P[i][$1] * S[$1][j] } + bt * kt[i] * vt[j] } }
                    for j in 0..<s.dv { o[row * s.dv + j] = 0.7 * (0..<s.dk).reduce(0) { $0 + S[$1][j] * q[row * s.dk + $1] } }
                }
                for i in 0..<s.dk { for j in 0..<s.dv { final[((b * s.h + h) * s.dk + i) * s.dv + j] = S[i][j] } }
            } }
            assertClose(r.o, o, tol: 1e-10, "delta o, h0 \(h0)")
            assertClose(r.state, final, tol: 1e-10, "delta final state, h0 \(h0)")
        }
    }

    /// The final state of the ungated form is h0 + K^T V.
    func testFinalStateUngated() throws {
        let s = Shapes(b: 1, t: 5, h: 1, dk: 2, dv: 3)
        let r = try run(.none, s, h0: true, seed: 9)
        var want: [Double] = []
        for i in 0..<2 {
            for j in 0..<3 {
                var acc: Double = r.ins[3][i * 3 + j]
                for t in 0..<5 { acc += r.ins[1][t * 2 + i] * r.ins[2][t * 3 + j] }
                want.append(acc)
            }
        }
        assertClose(r.state, want)
    }

    func testStrongGatesStayFinite() throws {
        let s = Shapes(b: 1, t: 64, h: 1, dk: 4, dv: 4)
        for gate in [LinearAttentionGate.scalar, .key] {
            let gShape = gate == .key ? [1, 64, 1, 4] : [1, 64, 1]
            let n = gShape.reduce(1, *)
            let vals = [randoms(256, seed: 1), randoms(256, seed: 2), randoms(256, seed: 3), [Double](repeating: -30, count: n)]
            let c = try OpCase(.linear_attention, [.f32(1, 64, 1, 4), .f32(1, 64, 1, 4), .f32(1, 64, 1, 4), TensorType(.f32, gShape)],
                               ["gate": .symbol(gate.rawValue), "scale": .float(1)], precision: .f32, values: vals)
            XCTAssertTrue(c.outputs[0].allSatisfy(\.isFinite), "\(gate)")
            _ = s
        }
    }
}
