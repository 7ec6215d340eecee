import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// The chunkwise reference (chunk > 0) against the fp64 token-by-token recurrence, the
/// issue #6 acceptance grid: every gate kind, C in {16, 32, 64, 128}, T in {1, 63, 64, 1000},
/// head dims 32, 64, 100, 128 (subsampled to keep the suite fast), non-zero h0 and
/// final-state cotangents; relative RMS error ≤ 1e-3 (none), 5e-3 (scalar, key), 8e-3 (delta).
final class ChunkwiseLinearAttentionTests: XCTestCase {
    struct Case { var c, t, dk, dv: Int; var b = 1, h = 1 }

    /// Forward grid: every C, T and head dim appears for every gate.
    static let forwardCases = [
        Case(c: 16, t: 1000, dk: 32, dv: 32), Case(c: 32, t: 63, dk: 100, dv: 100), Case(c: 64, t: 64, dk: 128, dv: 128),
        Case(c: 128, t: 1000, dk: 64, dv: 64), Case(c: 128, t: 1, dk: 100, dv: 100), Case(c: 32, t: 64, dk: 64, dv: 100, b: 2, h: 2),
    ]
    static let backwardCases = [
        Case(c: 16, t: 1000, dk: 32, dv: 32), Case(c: 64, t: 63, dk: 100, dv: 100), Case(c: 128, t: 64, dk: 128, dv: 128),
        Case(c: 32, t: 1, dk: 64, dv: 64), Case(c: 32, t: 100, dk: 32, dv: 64, b: 2, h: 2),
    ]

    static func tolerance(_ gate: LinearAttentionGate) -> Double {
        switch gate { case .none: 1e-3; case .scalar, .key: 5e-3; case .delta: 8e-3 }
    }

    /// Inputs as fla's tests draw them (§4): gates logsigmoid, beta sigmoid, L2-normalized keys for
    /// DeltaNet, non-zero h0. Values are rounded to f32 so both precisions see the same numbers.
    /// `gateValue` pins every gate to one value (strong-gate tests).
    static func inputs(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double? = nil) -> (types: [TensorType], values: [[Double]]) {
        var types: [TensorType] = [.f32(s.b, s.t, s.h, s.dk), .f32(s.b, s.t, s.h, s.dk), .f32(s.b, s.t, s.h, s.dv)]
        if gate == .key { types.append(.f32(s.b, s.t, s.h, s.dk)) } else if gate != .none { types.append(.f32(s.b, s.t, s.h)) }
        types.append(.f32(s.b, s.h, s.dk, s.dv))
        var values = types.enumerated().map { randoms($1.elementCount, seed: seed &* 31 &+ UInt64($0)) }
        if gate == .scalar || gate == .key {
            values[3] = values[3].map { gateValue ?? -log1p(exp(-4 * $0 - 1)) }
        }
        if gate == .delta {
            values[3] = values[3].map { 1 / (1 + exp(-2 * $0)) }
            for row in stride(from: 0, to: values[1].count, by: s.dk) {
                let n = (row..<row + s.dk).map { values[1][$0] * values[1][$0] }.reduce(0, +).squareRoot()
                for j in row..<row + s.dk { values[1][j] /= n }
            }
        }
        return (types, values.map { $0.map { Double(Float($0)) } })
    }

    static func attributes(_ gate: LinearAttentionGate, _ s: Case, chunk: Int) -> Attributes {
        ["gate": .symbol(gate.rawValue), "scale": .float(1 / Double(s.dk).squareRoot()), "chunk": .int(chunk),
         "final_state": .bool(true), "has_h0": .bool(true)]
    }

    static func relativeRMS(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += (x - y) * (x - y); den += y * y }
        return den == 0 ? num.squareRoot() : (num / den).squareRoot()
    }

    static func floats(_ b: Buffer<Float>) -> [Double] { b.floats.map(Double.init) }
    static func doubles(_ b: Buffer<Double>) -> [Double] { b.floats }

    /// (o, final state) of the fp64 recurrence and of the chunkwise form in f32; the largest exp argument.
    static func forwardPair(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double? = nil)
        -> (reference: [[Double]], chunkwise: [[Double]], maxExp: Double) {
        let (types, values) = inputs(gate, s, seed: seed, gateValue: gateValue)
        let reference = LinearAttention<Double>.run(values, types, attributes(gate, s, chunk: 0)).map(doubles)
        var audit = ExpAudit()
        let chunkwise = ChunkwiseLinearAttention<Float>.run(values.map { $0.map(Float.init) }, types,
                                                            attributes(gate, s, chunk: s.c), audit: &audit).map(floats)
        return (reference, chunkwise, audit.maxArgument)
    }

    func testForwardMatchesRecurrenceForEveryGate() {
        for gate in LinearAttentionGate.allCases {
            for (i, s) in Self.forwardCases.enumerated() {
                let r = Self.forwardPair(gate, s, seed: UInt64(i + 1))
                for (name, want, got) in [("o", r.reference[0], r.chunkwise[0]), ("final state", r.reference[1], r.chunkwise[1])] {
                    XCTAssertTrue(got.allSatisfy(\.isFinite), "\(gate) \(s) \(name) not finite")
                    let err = Self.relativeRMS(got, want)
                    XCTAssertLessThanOrEqual(err, Self.tolerance(gate), "\(gate) \(s) \(name)")
                }
                XCTAssertLessThanOrEqual(r.maxExp, 0, "\(gate) \(s): an exp argument was positive")
            }
        }
    }

    /// In fp64 the chunkwise algebra must agree with the recurrence to rounding, which catches
    /// mistakes the f32 tolerances would hide.
    func testForwardAlgebraIsExactInDoublePrecision() {
        let s = Case(c: 16, t: 37, dk: 5, dv: 3, b: 2, h: 2)
        for gate in LinearAttentionGate.allCases {
            let (types, values) = Self.inputs(gate, s, seed: 7)
            let want = LinearAttention<Double>.run(values, types, Self.attributes(gate, s, chunk: 0)).map(Self.doubles)
            var audit = ExpAudit()
            let got = ChunkwiseLinearAttention<Double>.run(values, types, Self.attributes(gate, s, chunk: 16), audit: &audit).map(Self.doubles)
            XCTAssertLessThan(Self.relativeRMS(got[0], want[0]), 1e-12, "\(gate) o")
            XCTAssertLessThan(Self.relativeRMS(got[1], want[1]), 1e-12, "\(gate) state")
        }
    }

    func testStrongAndZeroGatesStayFinite() {
        let s = Case(c: 32, t: 100, dk: 32, dv: 32)
        for gate in [LinearAttentionGate.scalar, .key] {
            for gv in [-30.0, 0.0] {
                let r = Self.forwardPair(gate, s, seed: 3, gateValue: gv)
                for (want, got) in zip(r.reference, r.chunkwise) {
                    XCTAssertTrue(got.allSatisfy(\.isFinite), "\(gate) g=\(gv)")
                    XCTAssertLessThanOrEqual(Self.relativeRMS(got, want), Self.tolerance(gate), "\(gate) g=\(gv)")
                }
                XCTAssertLessThanOrEqual(r.maxExp, 0)
            }
        }
    }

    // MARK: backward

    static func backwardInputs(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double? = nil) -> (types: [TensorType], values: [[Double]]) {
        var (types, values) = inputs(gate, s, seed: seed, gateValue: gateValue)
        let dout = randoms(s.b * s.t * s.h * s.dv, seed: seed &+ 1000).map { Double(Float($0)) }
        let dstate = randoms(s.b * s.h * s.dk * s.dv, seed: seed &+ 2000).map { Double(Float($0)) }
        types += [.f32(s.b, s.t, s.h, s.dv), .f32(s.b, s.h, s.dk, s.dv)]
        values += [dout, dstate]
        return (types, values)
    }

    func testBackwardMatchesRecurrenceForEveryGate() {
        for gate in LinearAttentionGate.allCases {
            for (i, s) in Self.backwardCases.enumerated() {
                let (types, values) = Self.backwardInputs(gate, s, seed: UInt64(40 + i))
                let want = LinearAttention<Double>.backward(values, types, Self.attributes(gate, s, chunk: 0)).map(Self.doubles)
                var audit = ExpAudit()
                let got = ChunkwiseLinearAttention<Float>.backward(values.map { $0.map(Float.init) }, types,
                                                                   Self.attributes(gate, s, chunk: s.c), audit: &audit).map(Self.floats)
                let names = ["dq", "dk", "dv"] + (gate.hasGateOperand ? [gate == .delta ? "dbeta" : "dg"] : []) + ["dh0"]
                XCTAssertEqual(got.count, names.count)
                for (name, (w, g)) in zip(names, zip(want, got)) {
                    XCTAssertTrue(g.allSatisfy(\.isFinite), "\(gate) \(s) \(name) not finite")
                    XCTAssertLessThanOrEqual(Self.relativeRMS(g, w), Self.tolerance(gate), "\(gate) \(s) \(name)")
                }
                XCTAssertLessThanOrEqual(audit.maxArgument, 0, "\(gate) \(s)")
            }
        }
    }

    func testBackwardAlgebraIsExactInDoublePrecision() {
        let s = Case(c: 16, t: 37, dk: 5, dv: 3, b: 1, h: 2)
        for gate in LinearAttentionGate.allCases {
            let (types, values) = Self.backwardInputs(gate, s, seed: 11)
            let want = LinearAttention<Double>.backward(values, types, Self.attributes(gate, s, chunk: 0)).map(Self.doubles)
            var audit = ExpAudit()
            let got = ChunkwiseLinearAttention<Double>.backward(values, types, Self.attributes(gate, s, chunk: 16), audit: &audit).map(Self.doubles)
            for (i, (w, g)) in zip(want, got).enumerated() {
                XCTAssertLessThan(Self.relativeRMS(g, w), 1e-11, "\(gate) gradient \(i)")
            }
        }
    }

    /// Central finite differences of L = <o, do> + <S_T, dS_T> through the chunkwise forward,
    /// along one random direction in every input, against the chunkwise backward (both fp64).
    func testBackwardMatchesFiniteDifferences() {
        let s = Case(c: 16, t: 21, dk: 4, dv: 3)
        for gate in LinearAttentionGate.allCases {
            let (types, values) = Self.backwardInputs(gate, s, seed: 23)
            let nIn = types.count - 2
            let attrs = Self.attributes(gate, s, chunk: 16)
            func loss(_ ins: [[Double]]) -> Double {
                var audit = ExpAudit()
                let r = ChunkwiseLinearAttention<Double>.run(ins, Array(types.prefix(nIn)), attrs, audit: &audit).map(Self.doubles)
                return zip(r[0], values[nIn]).map(*).reduce(0, +) + zip(r[1], values[nIn + 1]).map(*).reduce(0, +)
            }
            let dir = (0..<nIn).map { randoms(values[$0].count, seed: 900 + UInt64($0)) }
            let eps = 1e-6
            let plus = (0..<nIn).map { i in zip(values[i], dir[i]).map { $0 + eps * $1 } }
            let minus = (0..<nIn).map { i in zip(values[i], dir[i]).map { $0 - eps * $1 } }
            let numeric = (loss(plus) - loss(minus)) / (2 * eps)
            var audit = ExpAudit()
            let grads = ChunkwiseLinearAttention<Double>.backward(values, types, attrs, audit: &audit).map(Self.doubles)
            let analytic = (0..<nIn).map { zip(grads[$0], dir[$0]).map(*).reduce(0, +) }.reduce(0, +)
            XCTAssertEqual(analytic, numeric, accuracy: 1e-6 * max(1, abs(numeric)), "\(gate)")
        }
    }

    func testBackwardStrongAndZeroGatesStayFinite() {
        let s = Case(c: 16, t: 40, dk: 16, dv: 16)
        for gate in [LinearAttentionGate.scalar, .key] {
            for gv in [-30.0, 0.0] {
                let (types, values) = Self.backwardInputs(gate, s, seed: 5, gateValue: gv)
                let want = LinearAttention<Double>.backward(values, types, Self.attributes(gate, s, chunk: 0)).map(Self.doubles)
                var audit = ExpAudit()
                let got = ChunkwiseLinearAttention<Float>.backward(values.map { $0.map(Float.init) }, types,
                                                                   Self.attributes(gate, s, chunk: 16), audit: &audit).map(Self.floats)
                for (w, g) in zip(want, got) {
                    XCTAssertTrue(g.allSatisfy(\.isFinite), "\(gate) g=\(gv)")
                    XCTAssertLessThanOrEqual(Self.relativeRMS(g, w), Self.tolerance(gate), "\(gate) g=\(gv)")
                }
                XCTAssertLessThanOrEqual(audit.maxArgument, 0)
            }
        }
    }
}
