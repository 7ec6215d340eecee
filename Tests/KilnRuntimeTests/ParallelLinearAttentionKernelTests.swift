import Foundation
import XCTest
import KilnIR
import KilnCodegen
@testable import KilnRuntime

/// The compiled quadratic parallel form (`parallel = true`: one chunk spanning the sequence)
/// against the fp64 interpreter's recurrence, with the chunkwise tolerances of issue #6, for
/// every gate kind; T above 256 exercises the 64-row causal blocks and the 64-row key-gate
/// sub-chunks with global cumulative gates.
final class ParallelLinearAttentionKernelTests: XCTestCase {
    typealias Case = ChunkwiseLinearAttentionTests.Case

    func function(_ gate: LinearAttentionGate, _ s: Case, parallel: Bool, types: [TensorType]) throws -> Function {
        let b = FunctionBuilder(name: "la_\(gate)")
        let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
        var attrs: Attributes = ["gate": .symbol(gate.rawValue), "scale": .float(1 / Double(s.dk).squareRoot()), "final_state": .bool(true)]
        if parallel { attrs["parallel"] = .bool(true) }
        return b.finish(results: try b.add(.linear_attention, ids, attributes: attrs))
    }

    func compare(_ gate: LinearAttentionGate, _ s: Case, seed: UInt64, gateValue: Double? = nil,
                 file: StaticString = #filePath, line: UInt = #line) throws {
        try ChunkwiseKernelTests.compareWithRecurrence(gate, s, seed: seed, gateValue: gateValue, target: .host, file: file, line: line,
                                                       recurrence: { try self.function(gate, s, parallel: false, types: $0) },
                                                       compiled: { try self.function(gate, s, parallel: true, types: $0) })
    }

    /// `c` is unused (the parallel form has one chunk of C = T).
    static let cases = [
        Case(c: 0, t: 1, dk: 32, dv: 32), Case(c: 0, t: 63, dk: 100, dv: 64, b: 2, h: 2), Case(c: 0, t: 64, dk: 128, dv: 128),
        Case(c: 0, t: 300, dk: 64, dv: 48), Case(c: 0, t: 37, dk: 5, dv: 3, b: 2, h: 3), Case(c: 0, t: 700, dk: 32, dv: 32),
    ]

    func testParallelFormMatchesRecurrenceEveryGate() throws {
        for gate in LinearAttentionGate.allCases {
            for (i, s) in Self.cases.enumerated() { try compare(gate, s, seed: UInt64(160 + i)) }
        }
    }

    func testParallelFormStrongAndZeroGates() throws {
        for gate in [LinearAttentionGate.scalar, .key] {
            for gv in [-30.0, 0.0] { try compare(gate, Case(c: 0, t: 400, dk: 32, dv: 16), seed: 19, gateValue: gv) }
        }
    }

    /// The parallel kernels obey the exp-argument rule too (global cumulative gates, later minus earlier).
    func testParallelKernelsKeepEveryExpArgumentNonPositive() throws {
        for gate in LinearAttentionGate.allCases {
            let s = Case(c: 0, t: 300, dk: 24, dv: 24)
            let (types, _) = ChunkwiseLinearAttentionTests.inputs(gate, s, seed: 1)
            let p = try Lowering.lower(try function(gate, s, parallel: true, types: types))
            let names = p.steps.compactMap { step -> String? in if case .kernel(let k) = step { return k.name } else { return nil } }
            XCTAssertTrue(names.contains { $0.hasSuffix("linear_attention_parallel_\(gate)") }, "\(gate): \(names)")
            XCTAssertEqual(ExpArgumentCheck.violations(in: p), [], "\(gate)")
        }
    }
}
