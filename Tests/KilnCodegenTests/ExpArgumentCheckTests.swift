import XCTest
import KilnIR
@testable import KilnCodegen

/// Every exp in the lowered chunkwise kernels has an argument ≤ 0 by construction, for every
/// gate kind, forward and backward; the factorization e^{B_i} e^{−B_j} is rejected.
final class ExpArgumentCheckTests: XCTestCase {
    func program(_ gate: LinearAttentionGate, backward: Bool) throws -> KernelProgram {
        let (t, h, d) = (70, 2, 24)
        let b = FunctionBuilder(name: "la")
        var ins = [try b.addInput("q", .f32(1, t, h, d)), try b.addInput("k", .f32(1, t, h, d)), try b.addInput("v", .f32(1, t, h, d))]
        if gate == .key { ins.append(try b.addInput("g", .f32(1, t, h, d))) } else if gate != .none { ins.append(try b.addInput("g", .f32(1, t, h))) }
        var attrs: Attributes = ["gate": .symbol(gate.rawValue), "scale": .float(0.2), "chunk": .int(32)]
        if backward {
            ins += [try b.addInput("do", .f32(1, t, h, d)), try b.addInput("dS", .f32(1, h, d, d))]
            attrs["has_h0"] = .bool(false)
            return try Lowering.lower(b.finish(results: try b.add(.linear_attention_backward, ins, attributes: attrs)))
        }
        return try Lowering.lower(b.finish(results: try b.add(.linear_attention, ins, attributes: attrs)))
    }

    func testChunkwiseKernelsKeepEveryExpArgumentNonPositive() throws {
        for gate in LinearAttentionGate.allCases {
            for backward in [false, true] {
                let p = try program(gate, backward: backward)
                let kernels = p.steps.filter { if case .kernel(let k) = $0 { return k.name.contains("chunkwise") } else { return false } }
                XCTAssertEqual(kernels.count, 1, "\(gate) backward \(backward): one chunkwise kernel")
                XCTAssertEqual(ExpArgumentCheck.violations(in: p), [], "\(gate) backward \(backward)")
                if gate == .scalar || gate == .key { XCTAssertTrue("\(kernels)".contains("MathFn.exp"), "the check saw no exp at all") }
            }
        }
    }

    func testTheFactorizedFormIsRejected() {
        let cum: Set<Int> = [0]
        let bad: [KExpr] = [
            .call(.neg, .load(0, .int(0))),                                // e^{−B}: overflows for strong gates
            .load(1, .int(0)),                                             // not a cumulative gate
            .fop(.sub, .load(0, .int(1)), .load(1, .int(0))),              // B minus something else
        ]
        for arg in bad {
            let k = KernelFunction(name: "la_chunkwise_bad", buffers: [0, 1, 2], parallelCount: 1,
                                   body: [.store(2, .int(0), .call(.exp, arg))])
            XCTAssertNotNil(ExpArgumentCheck.violation(in: k, cumulativeBuffers: cum), "\(arg)")
        }
        let good = KernelFunction(name: "la_chunkwise_good", buffers: [0, 2], parallelCount: 1, body: [
            .variable("r", .load(0, .int(3))),
            .store(2, .int(0), .call(.exp, .fop(.sub, .load(0, .int(5)), .fvar("r")))),
            .store(2, .int(1), .call(.exp, .fop(.min, .load(2, .int(0)), .float(0)))),
        ])
        XCTAssertNil(ExpArgumentCheck.violation(in: good, cumulativeBuffers: cum))
    }
}
