import Foundation
import XCTest
import KilnIR
import KilnCodegen
@testable import KilnRuntime

/// The JIT-compiled chunkwise kernels against the fp64 interpreter's recurrence (chunk = 0),
/// with the tolerances of issue #6: T not a multiple of C, non-zero h0, the final state.
final class ChunkwiseKernelTests: XCTestCase {
    typealias Case = ChunkwiseLinearAttentionTests.Case

    /// Builds linear_attention over the inputs of `ChunkwiseLinearAttentionTests.inputs`.
    func function(_ gate: LinearAttentionGate, _ s: Case, chunk: Int, types: [TensorType]) throws -> Function {
        let b = FunctionBuilder(name: "la_\(gate)")
        let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
        let outs = try b.add(.linear_attention, ids, attributes: [
            "gate": .symbol(gate.rawValue), "scale": .float(1 / Double(s.dk).squareRoot()), "chunk": .int(chunk), "final_state": .bool(true)])
        return b.finish(results: outs)
    }

    func compare(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double? = nil, target: HostTarget = .host,
                 file: StaticString = #filePath, line: UInt = #line) throws {
        try Self.compareWithRecurrence(gate, s, seed: seed, gateValue: gateValue, target: target, file: file, line: line,
                                       recurrence: { try self.function(gate, s, chunk: 0, types: $0) },
                                       compiled: { try self.function(gate, s, chunk: s.c, types: $0) })
    }

    /// Runs `compiled` (JIT, 2 threads) and `recurrence` (fp64 interpreter) on the same seeded
    /// inputs and checks o and the final state against issue #6's tolerance for the gate.
    static func compareWithRecurrence(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double?, target: HostTarget,
                                      file: StaticString, line: UInt, recurrence: ([TensorType]) throws -> Function,
                                      compiled: ([TensorType]) throws -> Function) throws {
        let (types, values) = ChunkwiseLinearAttentionTests.inputs(gate, s, seed: seed, gateValue: gateValue)
        var bound: [String: HostTensor] = [:]
        for (i, (t, vals)) in zip(types, values).enumerated() { bound["in\(i)"] = HostTensor(shape: t.shape, doubles: vals) }
        let want = try Interpreter(precision: .f64).run(try recurrence(types), inputs: bound).map(\.doubles)
        let exe = try Executable(try compiled(types), kind: .compiled, threads: 2, target: target)
        let got = try exe.run(bound).map(\.doubles)
        for (name, (w, g)) in zip(["o", "final state"], zip(want, got)) {
            XCTAssertTrue(g.allSatisfy(\.isFinite), "\(gate) \(s) \(name) not finite", file: file, line: line)
            let err = ChunkwiseLinearAttentionTests.relativeRMS(g, w)
            XCTAssertLessThanOrEqual(err, ChunkwiseLinearAttentionTests.tolerance(gate), "\(gate) \(s) \(name)", file: file, line: line)
        }
    }

    static let cases = [
        Case(c: 16, t: 100, dk: 32, dv: 32), Case(c: 32, t: 63, dk: 100, dv: 64, b: 2, h: 2), Case(c: 64, t: 64, dk: 128, dv: 128),
        Case(c: 128, t: 300, dk: 64, dv: 64), Case(c: 64, t: 1, dk: 32, dv: 32), Case(c: 16, t: 37, dk: 5, dv: 3, b: 2, h: 3),
    ]

    func testChunkwiseForwardMatchesRecurrenceEveryGate() throws {
        for gate in LinearAttentionGate.allCases {
            for (i, s) in Self.cases.enumerated() { try compare(gate, s, seed: UInt64(60 + i)) }
        }
    }

    func testStrongAndZeroGates() throws {
        for gate in [LinearAttentionGate.scalar, .key] {
            for gv in [-30.0, 0.0] { try compare(gate, Case(c: 32, t: 80, dk: 32, dv: 16), seed: 9, gateValue: gv) }
        }
    }

    func testAVX2Target() throws {
        guard HostTarget.host.features.contains("+avx2") else { throw XCTSkip("this CPU has no AVX2") }
        for gate in LinearAttentionGate.allCases { try compare(gate, Case(c: 32, t: 70, dk: 40, dv: 24), seed: 4, target: .avx2) }
    }

    /// Per-key-gate scores take one matmul over the chunk when its gates decay by at most
    /// `keyGateOneMatmulRange`, else the sub-chunk form. At g = −1.85 every full 32-row chunk
    /// decays by 59.2 (one matmul, factors up to e^59); at g = −1.9 by 60.8 (sub-chunks), while the
    /// last, 16-row chunk decays by 30.4 and takes the matmul: both forms in one run.
    func testKeyGateScoresOnBothSidesOfTheOneMatmulRange() throws {
        let s = Case(c: 32, t: 80, dk: 32, dv: 16)
        for gv in [-1.85, -1.9] { try compare(.key, s, seed: 12, gateValue: gv) }
        if HostTarget.host.features.contains("+avx2") { try compare(.key, s, seed: 13, gateValue: -1.9, target: .avx2) }
        // The forward kernel carries the guard and both forms.
        let types = ChunkwiseLinearAttentionTests.inputs(.key, s, seed: 12).types
        let printed = "\(try Lowering.lower(try function(.key, s, chunk: s.c, types: types)))"
        XCTAssertTrue(printed.contains("var %oneMatmul"), printed)
        XCTAssertTrue(printed.contains("la.kinv") && printed.contains("la.diagW"), printed)
    }
}

/// The compiled chunkwise backward against the fp64 interpreter's reverse recurrence.
final class ChunkwiseBackwardKernelTests: XCTestCase {
    typealias Case = ChunkwiseLinearAttentionTests.Case

    func compare(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double? = nil,
                 file: StaticString = #filePath, line: UInt = #line) throws {
        let (types, values) = ChunkwiseLinearAttentionTests.backwardInputs(gate, s, seed: seed, gateValue: gateValue)
        var bound: [String: HostTensor] = [:]
        for (i, (t, vals)) in zip(types, values).enumerated() { bound["in\(i)"] = HostTensor(shape: t.shape, doubles: vals) }
        func function(chunk: Int) throws -> Function {
            let b = FunctionBuilder(name: "la_bwd_\(gate)")
            let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
            return b.finish(results: try b.add(.linear_attention_backward, ids, attributes: [
                "gate": .symbol(gate.rawValue), "scale": .float(1 / Double(s.dk).squareRoot()), "has_h0": .bool(true), "chunk": .int(chunk)]))
        }
        let want = try Interpreter(precision: .f64).run(try function(chunk: 0), inputs: bound).map(\.doubles)
        let got = try Executable(try function(chunk: s.c), kind: .compiled, threads: 2).run(bound).map(\.doubles)
        let names = ["dq", "dk", "dv"] + (gate.hasGateOperand ? [gate == .delta ? "dbeta" : "dg"] : []) + ["dh0"]
        for (name, (w, g)) in zip(names, zip(want, got)) {
            XCTAssertTrue(g.allSatisfy(\.isFinite), "\(gate) \(s) \(name) not finite", file: file, line: line)
            let err = ChunkwiseLinearAttentionTests.relativeRMS(g, w)
            XCTAssertLessThanOrEqual(err, ChunkwiseLinearAttentionTests.tolerance(gate), "\(gate) \(s) \(name)", file: file, line: line)
        }
    }

    static let cases = [
        Case(c: 16, t: 100, dk: 32, dv: 32), Case(c: 32, t: 63, dk: 100, dv: 64, b: 2, h: 2), Case(c: 64, t: 64, dk: 128, dv: 128),
        Case(c: 16, t: 1, dk: 8, dv: 8), Case(c: 16, t: 37, dk: 5, dv: 3, b: 2, h: 3),
    ]

    func testChunkwiseBackwardMatchesRecurrence() throws {
        for gate in LinearAttentionGate.allCases {
            for (i, s) in Self.cases.enumerated() { try compare(gate, s, seed: UInt64(80 + i)) }
        }
    }

    func testStrongAndZeroGates() throws {
        for gate in [LinearAttentionGate.scalar, .key] {
            for gv in [-30.0, 0.0] { try compare(gate, Case(c: 32, t: 80, dk: 32, dv: 16), seed: 3, gateValue: gv) }
        }
    }

    /// The backward of both forms of the per-key-gate scores (see the forward's test of the same
    /// name): g = −1.85 takes the one-matmul form in every chunk, g = −1.9 in the last one only.
    func testKeyGateScoresOnBothSidesOfTheOneMatmulRange() throws {
        for gv in [-1.85, -1.9] { try compare(.key, Case(c: 32, t: 80, dk: 32, dv: 16), seed: 14, gateValue: gv) }
    }
}
