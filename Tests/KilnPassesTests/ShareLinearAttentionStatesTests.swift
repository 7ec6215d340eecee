import XCTest
import Kiln

/// share-linear-attention-states: which forward/backward pairs share the chunk-boundary states,
/// the chunk-size alignment, the IR it leaves (verifies, prints and parses back), and the op
/// table's errors for the two attributes.
final class ShareLinearAttentionStatesTests: XCTestCase {
    func training(_ gate: LinearAttentionGate, t: Int = 256, dk: Int = 16, dv: Int = 8, forwardChunk: Int, backwardChunk: Int,
                  parallel: Bool = false) throws -> Function {
        let b = FunctionBuilder(name: "la_train")
        var ins = [try b.addInput("q", .f32(1, t, 2, dk)), try b.addInput("k", .f32(1, t, 2, dk)), try b.addInput("v", .f32(1, t, 2, dv))]
        if gate == .key { ins.append(try b.addInput("g", .f32(1, t, 2, dk))) } else if gate != .none { ins.append(try b.addInput("g", .f32(1, t, 2))) }
        let o = try b.add(.linear_attention, ins, attributes: ["gate": .symbol(gate.rawValue), "scale": .float(0.25), "chunk": .int(forwardChunk),
                                                                "parallel": .bool(parallel)])
        let dout = try b.addInput("do", .f32(1, t, 2, dv)), ds = try b.addInput("dS", .f32(1, 2, dk, dv))
        let grads = try b.add(.linear_attention_backward, ins + [dout, ds], attributes: [
            "gate": .symbol(gate.rawValue), "scale": .float(0.25), "chunk": .int(backwardChunk)])
        return b.finish(results: o + grads)
    }

    func share(_ f: Function, _ options: [String: String] = [:]) throws -> PassResult {
        try ShareLinearAttentionStates().run(f, context: PassContext(options: options))
    }

    func pair(_ f: Function) -> (Node, Node) {
        (f.nodes.first { $0.op == .linear_attention }!, f.nodes.first { $0.op == .linear_attention_backward }!)
    }

    func testChunkwisePairsShareStatesForDecayGates() throws {
        for gate in [LinearAttentionGate.none, .scalar, .key] {
            let r = try share(try training(gate, forwardChunk: 32, backwardChunk: 32))
            let (fwd, bwd) = pair(r.function)
            XCTAssertTrue(fwd.attributes.bool("save_states"), "\(gate)")
            XCTAssertTrue(bwd.attributes.bool("saved_states"), "\(gate)")
            XCTAssertEqual(fwd.outputs.count, 2)
            XCTAssertEqual(bwd.inputs.last, fwd.outputs.last)
            XCTAssertEqual(r.function.type(of: fwd.outputs[1]), TensorType(.f32, [1, 2, 8, 8, 16]))
            XCTAssertNoThrow(try r.function.verify())
            XCTAssertEqual(r.notes.count, 1)
            XCTAssertTrue(r.notes[0].contains("instead of recomputing"), r.notes[0])
            // Every stage prints and parses back to the same function.
            let text = r.function.printed()
            XCTAssertEqual(try parseFunction(text), r.function, text)
        }
    }

    func testBackwardTakesTheForwardsChunkSize() throws {
        let r = try share(try training(.key, forwardChunk: 64, backwardChunk: 32))
        let (fwd, bwd) = pair(r.function)
        XCTAssertEqual(bwd.attributes.int("chunk"), 64)
        XCTAssertTrue(fwd.attributes.bool("save_states"))
        XCTAssertTrue(r.notes[0].contains("32 → 64"), r.notes[0])
    }

    func testUnshareableFormsAreLeftAlone() throws {
        let cases: [(Function, String)] = [
            (try training(.delta, forwardChunk: 32, backwardChunk: 32), "delta"),
            (try training(.key, forwardChunk: 0, backwardChunk: 32), "recurrent forward"),
            (try training(.key, forwardChunk: 32, backwardChunk: 0), "recurrent backward"),
            (try training(.scalar, forwardChunk: 0, backwardChunk: 32, parallel: true), "parallel forward"),
        ]
        for (f, what) in cases {
            let r = try share(f)
            let (fwd, bwd) = pair(r.function)
            XCTAssertFalse(fwd.attributes.bool("save_states"), what)
            XCTAssertFalse(bwd.attributes.bool("saved_states"), what)
            XCTAssertEqual(r.function, f, what)
        }
        let off = try share(try training(.key, forwardChunk: 32, backwardChunk: 32), ["share-linear-attention-states": "off"])
        XCTAssertFalse(pair(off.function).0.attributes.bool("save_states"))
        XCTAssertThrowsError(try share(try training(.key, forwardChunk: 32, backwardChunk: 32), ["share-linear-attention-states": "maybe"]))
    }

    func testTheFullPipelineSharesStatesOfAGradientGraph() throws {
        let r = try PassPipeline.all.run(try training(.key, t: 4096, dk: 128, dv: 128, forwardChunk: 0, backwardChunk: 0), context: PassContext(threads: 2))
        let (fwd, bwd) = pair(r.function)
        XCTAssertTrue(fwd.attributes.bool("save_states") && bwd.attributes.bool("saved_states"), r.notes.joined(separator: "\n"))
        XCTAssertEqual(fwd.attributes.int("chunk"), bwd.attributes.int("chunk"))
        XCTAssertTrue(r.notes.contains { $0.hasPrefix("share-linear-attention-states: ") })
    }

    /// The VJP rebuilds the backward's operands with reshapes of its own: they still pair.
    func testTheGLABlocksGradientGraphSharesStates() throws {
        let model = Zoo.model(named: "gla-block")!
        let (loss, _) = try LossFunction.wrap(try model.trace().function)
        let g = try gradient(of: loss, wrt: loss.params.map { loss.name(of: $0) })
        let r = try PassPipeline.all.run(g, context: PassContext(threads: 2))
        let (fwd, bwd) = pair(r.function)
        XCTAssertTrue(fwd.attributes.bool("save_states") && bwd.attributes.bool("saved_states"), r.notes.joined(separator: "\n"))
        XCTAssertEqual(bwd.inputs.last, fwd.outputs.last)
    }

    func testAttributeErrorsNameTheProblem() throws {
        func forward(_ gate: LinearAttentionGate, chunk: Int) throws {
            let b = FunctionBuilder(name: "f")
            var ins = [try b.addInput("q", .f32(1, 40, 1, 4)), try b.addInput("k", .f32(1, 40, 1, 4)), try b.addInput("v", .f32(1, 40, 1, 4))]
            if gate != .none { ins.append(try b.addInput("g", .f32(1, 40, 1))) }
            _ = try b.add(.linear_attention, ins, attributes: ["gate": .symbol(gate.rawValue), "scale": .float(1), "chunk": .int(chunk), "save_states": .bool(true)])
        }
        XCTAssertThrowsError(try forward(.scalar, chunk: 0)) { XCTAssertTrue("\($0)".contains("needs the chunkwise form"), "\($0)") }
        XCTAssertThrowsError(try forward(.delta, chunk: 16)) { XCTAssertTrue("\($0)".contains("not delta"), "\($0)") }
        // 40 tokens in chunks of 16: 3 chunks; a states operand of 2 chunks is named with the expected type.
        let b = FunctionBuilder(name: "b")
        let q = try b.addInput("q", .f32(1, 40, 1, 4)), k = try b.addInput("k", .f32(1, 40, 1, 4)), v = try b.addInput("v", .f32(1, 40, 1, 4))
        let dout = try b.addInput("do", .f32(1, 40, 1, 4)), ds = try b.addInput("dS", .f32(1, 1, 4, 4)), st = try b.addInput("st", .f32(1, 1, 2, 4, 4))
        XCTAssertThrowsError(try b.add(.linear_attention_backward, [q, k, v, dout, ds, st], attributes: [
            "scale": .float(1), "chunk": .int(16), "saved_states": .bool(true)])) {
            XCTAssertTrue("\($0)".contains("states must be f32[1,1,3,4,4]"), "\($0)")
        }
        XCTAssertThrowsError(try b.add(.linear_attention_backward, [q, k, v, dout, ds], attributes: [
            "scale": .float(1), "chunk": .int(16), "saved_states": .bool(true)])) {
            XCTAssertTrue("\($0)".contains("saved_states = true takes 6 operands, got 5"), "\($0)")
        }
    }
}
