import XCTest
import Kiln

/// `fuse-block-backward-recompute`: the backward kernel recomputes its block's forward
/// intermediates per row tile from the block input, the forward kernel no longer writes them,
/// and every gradient stays what the interpreter and the unfused executor compute.
final class BackwardRecomputeTests: XCTestCase {
    func scaledError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        return zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) } / max(scale, 1e-30)
    }

    func training(_ m: TracedModel) throws -> Function {
        let (loss, _) = try LossFunction.wrap(m.function)
        return try gradient(of: loss, wrt: loss.params.map { loss.name(of: $0) })
    }

    func fused(_ g: Function, recompute: String, threads: Int = 2) throws -> PassResult {
        try PassPipeline([FuseResidualBlocks(), FuseBlockBackward()]).run(g, context: PassContext(threads: threads, options: [
            "fuse-residual-blocks": "on", "fuse-block-backward-recompute": recompute,
        ]))
    }

    /// Image-shaped values the backward kernels read from forward fused blocks.
    func savedActivations(_ f: Function) -> [TensorType] {
        let producers = f.producers()
        var out: [TensorType] = []
        for n in f.nodes where n.attributes.symbol("direction") == "backward" {
            for v in n.inputs {
                guard let p = producers[v.index], f.nodes[p].op == .fused, f.nodes[p].attributes.symbol("direction") != "backward" else { continue }
                out.append(f.type(of: v))
            }
        }
        return out
    }

    /// With recompute on: one forward and one backward row kernel, the forward block returns
    /// only its output, the backward reads only the block output (no intermediates), and all
    /// results match the fp64 interpreter and the unfused executor at 1 and 2 threads, bitwise
    /// the same for both thread counts.
    func check(_ m: TracedModel, kernels: Int? = nil, tol: Float = 2e-5, line: UInt = #line) throws {
        let g = try training(m)
        let r = try fused(g, recompute: "on")
        try r.function.verify()
        XCTAssertEqual(try parseFunction(r.function.printed(), file: "rc.kir").printed(), r.function.printed(), "print -> parse round trip", line: line)
        let forward = r.function.nodes.filter { $0.op == .fused && $0.attributes.symbol("direction") != "backward" }
        XCTAssertEqual(forward.count, 1, line: line)
        XCTAssertEqual(forward.first?.outputs.count, 1, "the forward kernel writes only the block output: \(r.notes)", line: line)
        XCTAssertEqual(savedActivations(r.function), [], "no saved intermediates read by the backward", line: line)
        XCTAssertTrue(r.notes.contains { $0.contains("recomputes from the block input") }, "\(r.notes)", line: line)
        let off = try fused(g, recompute: "off")
        XCTAssertGreaterThan(savedActivations(off.function).count, 2, "off reads saved intermediates", line: line)
        let ins = trainingInputs(m, g, seed: 13)
        let want = try Interpreter(precision: .f64).run(g, inputs: ins)
        let unfused = try Executable(g, kind: .unfused, threads: 2).run(ins)
        let viaBody = try Interpreter().run(r.function, inputs: ins)
        var byThreads: [[[Float]]] = []
        for threads in [1, 2] {
            let exe = try Executable(r.function, kind: .compiled, threads: threads)
            XCTAssertEqual(exe.program.allKernels.filter { $0.name.contains("fused_rows") }.count, 2, "one forward, one backward kernel", line: line)
            if let kernels { XCTAssertEqual(exe.program.steps.count, kernels, "kernels and GEMM calls", line: line) }
            let got = try exe.run(ins)
            byThreads.append(got.map(\.floats))
            for (i, result) in got.enumerated() {
                XCTAssertLessThanOrEqual(scaledError(result.floats, want[i].floats), tol, "result \(i), \(threads) threads vs interpreter", line: line)
                XCTAssertLessThanOrEqual(scaledError(result.floats, unfused[i].floats), tol, "result \(i), \(threads) threads vs unfused", line: line)
                XCTAssertLessThanOrEqual(scaledError(viaBody[i].floats, want[i].floats), tol, "result \(i): interpreter on the fused bodies", line: line)
            }
        }
        XCTAssertEqual(byThreads[0], byThreads[1], "results do not depend on the thread count", line: line)
    }

    func testConvNeXt() throws {
        try check(try Zoo.model(named: "convnext-block")!.trace(input: .f32(2, 9, 8, 96), seed: 2), kernels: 11)
    }

    func testMobileNetV2() throws {
        try check(try Zoo.model(named: "mobilenetv2-block")!.trace(input: .f32(3, 9, 7, 24), seed: 2), kernels: 29)
    }

    func testConvNeXtFiveByFiveExpansionThree() throws {
        try check(try trace(ConvNeXtBlock(channels: 48, kernel: 5, expansion: 3), input: .f32(2, 10, 9, 48), name: "convnext_5x5_x3", seed: 4))
    }

    func testInvertedResidualSiLUExpansionFour() throws {
        try check(try trace(InvertedResidualBlock(channels: 32, expansion: 4, kernel: 3, activation: .silu), input: .f32(2, 11, 8, 32),
                            name: "inverted_silu_x4", seed: 5))
    }

    /// `auto` follows the cost model: the inverted residual (small GEMMs, 6x wider hidden
    /// tensors) recomputes; ConvNeXt (two large GEMMs to redo) reads what it saved. The notes
    /// say which, with the saved tensors and their bytes; a bad value is an error.
    func testAutoDecidesPerBlockAndSaysWhatIsSaved() throws {
        let mb = try training(try Zoo.model(named: "mobilenetv2-block")!.trace(input: .f32(1, 56, 56, 24), seed: 1))
        let a = try fused(mb, recompute: "auto")
        XCTAssertTrue(a.notes.contains { $0.contains("recomputes from the block input (fuse-block-backward-recompute=auto") }, "\(a.notes)")
        XCTAssertTrue(a.notes.contains { $0.contains("saved from the forward pass (294 KiB): %x f32[1,56,56,24] (294 KiB)") }, "\(a.notes)")
        let cn = try training(try Zoo.model(named: "convnext-block")!.trace(input: .f32(1, 56, 56, 96), seed: 1))
        let b = try fused(cn, recompute: "auto")
        XCTAssertTrue(b.notes.contains { $0.contains("reads saved intermediates (fuse-block-backward-recompute=auto") }, "\(b.notes)")
        XCTAssertTrue(b.notes.contains { $0.contains("f32[1,56,56,384] (4704 KiB)") }, "\(b.notes)")
        XCTAssertThrowsError(try fused(cn, recompute: "maybe"))
    }

    /// With `checkpoint-residual-blocks=on` too, the recompute copy of the forward kernel
    /// becomes dead and is removed: two row kernels, not three.
    func testCheckpointCopyIsDroppedWhenTheBackwardRecomputes() throws {
        let m = try Zoo.model(named: "mobilenetv2-block")!.trace(input: .f32(2, 8, 6, 24), seed: 3)
        let g = try training(m)
        let options = ["fuse-residual-blocks": "on", "checkpoint-residual-blocks": "on", "fuse-block-backward-recompute": "on"]
        let r = try PassPipeline.all.run(g, context: PassContext(threads: 2, options: options))
        let exe = try Executable(r.function, kind: .compiled, threads: 2)
        XCTAssertEqual(exe.program.allKernels.filter { $0.name.contains("fused_rows") }.count, 2)
        let ins = trainingInputs(m, g, seed: 5)
        let want = try Interpreter(precision: .f64).run(g, inputs: ins)
        for (i, (x, y)) in zip(try exe.run(ins), want).enumerated() {
            XCTAssertLessThanOrEqual(scaledError(x.floats, y.floats), 2e-5, "result \(i)")
        }
    }
}
