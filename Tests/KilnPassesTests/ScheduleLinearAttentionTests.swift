import XCTest
import Kiln

/// The decisions of schedule-linear-attention: long sequences go chunkwise, tiny ones stay
/// recurrent, options and IR attributes force a form, bad options are clear errors.
final class ScheduleLinearAttentionTests: XCTestCase {
    func function(_ gate: LinearAttentionGate, t: Int, h: Int = 4, d: Int = 128, chunk: Int = 0, backward: Bool = false) throws -> Function {
        let b = FunctionBuilder(name: "la")
        var ins = [try b.addInput("q", .f32(1, t, h, d)), try b.addInput("k", .f32(1, t, h, d)), try b.addInput("v", .f32(1, t, h, d))]
        if gate == .key { ins.append(try b.addInput("g", .f32(1, t, h, d))) } else if gate != .none { ins.append(try b.addInput("g", .f32(1, t, h))) }
        if backward {
            ins.append(try b.addInput("do", .f32(1, t, h, d)))
            ins.append(try b.addInput("dS", .f32(1, h, d, d)))
            let outs = try b.add(.linear_attention_backward, ins, attributes: ["gate": .symbol(gate.rawValue), "scale": .float(0.1)])
            return b.finish(results: outs)
        }
        let outs = try b.add(.linear_attention, ins, attributes: ["gate": .symbol(gate.rawValue), "scale": .float(0.1), "chunk": .int(chunk)])
        return b.finish(results: outs)
    }

    func chunks(_ f: Function) -> [Int] {
        f.nodes.filter { $0.op == .linear_attention || $0.op == .linear_attention_backward }.map { $0.attributes.int("chunk") }
    }

    func schedule(_ f: Function, _ options: [String: String] = [:], threads: Int = 2) throws -> PassResult {
        try ScheduleLinearAttention().run(f, context: PassContext(threads: threads, options: options))
    }

    func testLongSequencesGoChunkwiseForEveryGate() throws {
        for gate in LinearAttentionGate.allCases {
            let r = try schedule(try function(gate, t: 4096))
            let c = chunks(r.function)
            XCTAssertEqual(c.count, 1)
            XCTAssertTrue(LinearAttentionCostModel.chunkSizes.contains(c[0]), "\(gate): chose \(c)")
            XCTAssertEqual(r.notes.count, 1)
            XCTAssertTrue(r.notes[0].contains("chunkwise C=\(c[0])") && r.notes[0].contains("recurrent"), r.notes[0])
            XCTAssertNoThrow(try r.function.verify())
        }
    }

    func testTinySequencesStayRecurrent() throws {
        for gate in LinearAttentionGate.allCases {
            XCTAssertEqual(chunks(try schedule(try function(gate, t: 1)).function), [0], "\(gate)")
        }
    }

    func testForcedFormAndChunkAreRespected() throws {
        let f = try function(.key, t: 4096)
        XCTAssertEqual(chunks(try schedule(f, ["linear-attention-form": "recurrent"]).function), [0])
        XCTAssertEqual(chunks(try schedule(f, ["linear-attention-chunk": "32"]).function), [32])
        XCTAssertEqual(chunks(try schedule(f, ["linear-attention-form": "chunkwise", "linear-attention-chunk": "256"]).function), [256])
        let tiny = try function(.scalar, t: 3)
        XCTAssertGreaterThan(chunks(try schedule(tiny, ["linear-attention-form": "chunkwise"]).function)[0], 0)
        // A chunk size written in the IR is kept when no option overrides it.
        XCTAssertEqual(chunks(try schedule(try function(.none, t: 4096, chunk: 16)).function), [16])
        let forced = try schedule(f, ["linear-attention-chunk": "32"])
        XCTAssertTrue(forced.notes[0].contains("forced by linear-attention-chunk=32"), forced.notes[0])
    }

    /// form=parallel marks the forward op; a backward op keeps a chunkwise schedule and says why;
    /// the cost model never picks the parallel form where its T x T scores exceed the budget.
    func testParallelFormIsForceableAndExplained() throws {
        let f = try function(.key, t: 1024)
        let r = try schedule(f, ["linear-attention-form": "parallel"])
        let node = r.function.nodes.first { $0.op == .linear_attention }!
        XCTAssertTrue(node.attributes.bool("parallel"))
        XCTAssertEqual(node.attributes.int("chunk"), 0)
        XCTAssertTrue(r.notes[0].contains("parallel (one chunk of C = T)") && r.notes[0].contains("forced by"), r.notes[0])
        XCTAssertNoThrow(try r.function.verify())
        let b = try schedule(try function(.key, t: 1024, backward: true), ["linear-attention-form": "parallel"])
        XCTAssertGreaterThan(chunks(b.function)[0], 0)
        XCTAssertTrue(b.notes[0].contains("no backward kernel"), b.notes[0])
        let model = LinearAttentionCostModel(machine: .default, threads: 2)
        let long = LinearAttentionProblem(gate: .none, batch: 1, seqLen: 65536, heads: 4, dk: 128, dv: 128)
        XCTAssertNotNil(model.estimateParallel(long).infeasible)
        XCTAssertFalse(model.best(long).parallel)
        XCTAssertThrowsError(try schedule(f, ["linear-attention-form": "parallel", "linear-attention-chunk": "64"]))
    }

    func testBadOptionsAreClearErrors() throws {
        let f = try function(.none, t: 64)
        let bad: [([String: String], String)] = [
            (["linear-attention-form": "quadratic"], "must be recurrent, chunkwise, parallel or auto, got 'quadratic'"),
            (["linear-attention-chunk": "8"], "must be an integer in 16...256, got '8'"),
            (["linear-attention-chunk": "sixty"], "got 'sixty'"),
            (["linear-attention-form": "recurrent", "linear-attention-chunk": "64"], "contradicts"),
            (["linear-attention-chnk": "64"], "unknown option 'linear-attention-chnk'"),
        ]
        for (options, message) in bad {
            XCTAssertThrowsError(try schedule(f, options)) { e in
                XCTAssertTrue(e is PassError, "\(e)")
                XCTAssertTrue("\(e)".contains(message), "\(e)")
            }
        }
    }

    /// The recurrent backward keeps every state: at T = 65536 that is 16 GiB, so the pass must
    /// go chunkwise and say why.
    func testLongBackwardRulesOutTheStoredStates() throws {
        let r = try schedule(try function(.key, t: 65536, backward: true))
        XCTAssertGreaterThan(chunks(r.function)[0], 0)
        XCTAssertTrue(r.notes[0].contains("keeps all 65537 states"), r.notes[0])
    }

    /// The cost model's FLOP formula (reference/chunkwise.md §3 worked numbers: L = 2048,
    /// Dk = Dv = 128, C = 64, F = 1/2 gives 169 MFLOP per head; recurrent 134 MFLOP without a gate).
    func testFlopFormulaMatchesTheReferenceNumbers() {
        let p = LinearAttentionProblem(gate: .none, batch: 1, seqLen: 2048, heads: 1, dk: 128, dv: 128)
        XCTAssertEqual(LinearAttentionCostModel.chunkwiseFlops(p, chunk: 64) / 1e6, 169, accuracy: 1)
        XCTAssertEqual(LinearAttentionCostModel.recurrentFlops(p) / 1e6, 134, accuracy: 1)
    }

    func testThePassRunsInsideRegionsAndThePipeline() throws {
        let f = try function(.scalar, t: 2048)
        let r = try PassPipeline.all.run(f, context: PassContext(threads: 2), through: "schedule-linear-attention")
        XCTAssertGreaterThan(chunks(r.function)[0], 0)
        XCTAssertTrue(r.notes.contains { $0.hasPrefix("schedule-linear-attention: ") })
    }
}
