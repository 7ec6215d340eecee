import XCTest
import Kiln

/// `fuse-block-backward`: the data-gradient part of each fused block's backward becomes one
/// row-scheduled kernel, and every gradient stays what the interpreter and the unfused
/// executor compute.
final class FuseBlockBackwardTests: XCTestCase {
    static let options = ["fuse-residual-blocks": "on"]

    /// The training graph of zoo block `name`: loss sum(y*y)/2 and every parameter's gradient.
    func training(_ name: String, _ input: TensorType) throws -> (TracedModel, Function) {
        let m = try Zoo.model(named: name)!.trace(input: input, seed: 2)
        let (loss, _) = try LossFunction.wrap(m.function)
        return (m, try gradient(of: loss, wrt: loss.params.map { loss.name(of: $0) }))
    }

    func fused(_ g: Function, threads: Int = 2) throws -> PassResult {
        try PassPipeline([FuseResidualBlocks(), FuseBlockBackward()]).run(g, context: PassContext(threads: threads, options: Self.options))
    }

    /// Largest |a - b| over the largest |b| (the result's scale): gradients are sums over
    /// pixels, so an entry near zero carries the rounding of the large terms it sums.
    func scaledError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        return zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) } / max(scale, 1e-30)
    }

    /// Fuses the training graph, expects one backward region compiled to one kernel and
    /// `kernels` kernels plus GEMM calls in the whole program, and compares every result with
    /// the fp64 interpreter and the unfused executor at 1 and 2 threads.
    func check(_ name: String, _ input: TensorType, kernels: Int, tol: Float = 2e-5, avx2: Bool = false, line: UInt = #line) throws {
        let (m, g) = try training(name, input)
        let r = try fused(g)
        let backward = r.function.nodes.filter { $0.op == .fused && $0.attributes.symbol("direction") == "backward" }
        XCTAssertEqual(backward.count, 1, "one backward region: \(r.notes)", line: line)
        try r.function.verify()
        XCTAssertEqual(try parseFunction(r.function.printed(), file: "bwd.kir").printed(), r.function.printed(), "print -> parse round trip", line: line)
        let ins = trainingInputs(m, g, seed: 11)
        let want = try Interpreter(precision: .f64).run(g, inputs: ins)
        let viaBody = try Interpreter().run(r.function, inputs: ins)
        let unfused = try Executable(g, kind: .unfused, threads: 2).run(ins)
        for threads in [1, 2] {
            let exe = try Executable(r.function, kind: .compiled, threads: threads)
            let rows = exe.program.allKernels.filter { $0.name.contains("fused_rows") }
            XCTAssertEqual(rows.count, 2, "one forward and one backward kernel for the block", line: line)
            XCTAssertEqual(exe.program.steps.count, kernels, "kernels and GEMM calls of \(name)'s fused training graph", line: line)
            let got = try exe.run(ins)
            let again = try exe.run(ins)
            for (i, result) in got.enumerated() {
                XCTAssertEqual(again[i].floats, result.floats, "result \(i) of \(name) is bitwise repeatable", line: line)
                XCTAssertLessThanOrEqual(scaledError(result.floats, want[i].floats), tol, "result \(i) of \(name), \(threads) threads vs interpreter", line: line)
                XCTAssertLessThanOrEqual(scaledError(result.floats, unfused[i].floats), tol, "result \(i) of \(name), \(threads) threads vs unfused", line: line)
                XCTAssertLessThanOrEqual(scaledError(viaBody[i].floats, want[i].floats), tol, "result \(i): the interpreter runs the fused bodies", line: line)
            }
        }
        // The same kernels built for an AVX2-only machine (8-wide vectors, 6 x 16 tiles).
        if avx2 && HostTarget.host.features.contains("+avx2") {
            let got = try Executable(r.function, kind: .compiled, threads: 2, target: .avx2).run(ins)
            for (i, result) in got.enumerated() {
                XCTAssertLessThanOrEqual(scaledError(result.floats, want[i].floats), tol, "result \(i) of \(name) on AVX2", line: line)
            }
        }
    }

    func testConvNeXt() throws { try check("convnext-block", .f32(1, 9, 8, 96), kernels: 11, avx2: true) }
    func testConvNeXtBatchThreeOddRows() throws { try check("convnext-block", .f32(3, 7, 5, 96), kernels: 11) }
    /// Wide enough that the 7x7 depthwise input gradient (the flipped kernel) runs register tiles.
    func testConvNeXtDepthwiseRegisterTiles() throws { try check("convnext-block", .f32(1, 8, 19, 96), kernels: 11) }
    func testMobileNetV2() throws { try check("mobilenetv2-block", .f32(3, 9, 7, 24), kernels: 29, avx2: true) }
    func testMobileNetV2BatchOne() throws { try check("mobilenetv2-block", .f32(1, 5, 11, 24), kernels: 29) }

    /// A transformer FFN ([B, T, C], rows of T = 24 tokens here): the backward kernel runs its two
    /// `dy . w^T` matmuls as a hidden chain, so the 4x-wide hidden gradient exists in slices
    /// (and in the full copy the first weight's gradient GEMM reads), and the GELU derivative's
    /// dozen pointwise nodes are one expression with no slice of their own.
    func testTransformerFFN() throws {
        try check("ffn-block", .f32(2, 24, 512), kernels: 16, avx2: true)
        let (_, g) = try training("ffn-block", .f32(2, 24, 512))
        let exe = try Executable(try fused(g).function, kind: .compiled, threads: 2)
        let backward = try XCTUnwrap(exe.program.allKernels.last { $0.name.contains("fused_rows") })
        let slices = backward.scratch.map { exe.program.buffers[$0.id].name }.filter { $0.hasSuffix(".slice") }
        XCTAssertEqual(slices.count, 2, "the hidden gradient before and after the GELU derivative: \(slices)")
    }

    /// The notes say what stays outside the backward kernel and why.
    func testNotesGiveReasonsForWhatIsNotFused() throws {
        let (_, g) = try training("convnext-block", .f32(1, 6, 6, 96))
        let notes = try fused(g).notes
        // The data gradient, the weight gradients (1x1 as row matmuls, the 7x7 depthwise one) and the bias sums.
        XCTAssertTrue(notes.contains { $0.contains("fuse-block-backward: backward region 0") && $0.contains("conv2d_backward_input")
            && $0.contains("conv2d_backward_weight") && $0.contains("reduce_sum") }, "\(notes)")
        XCTAssertTrue(notes.contains { $0.contains("4 weight/bias gradient(s) over flattened pixels rewritten") }, "\(notes)")
        // The loss sum(y*y)/2 reduces over every axis, channels too: not a per-channel pixel reduction.
        XCTAssertTrue(notes.contains { $0.contains("not fused: reduce_sum 1: reduction over pixels (bias, scale or loss)") }, "\(notes)")
    }

    /// Without a fused forward block there is nothing to fuse, and the pass says so; `off`
    /// keeps the backward op by op; a bad option value is an error.
    func testRejectionsAndOptions() throws {
        let (_, g) = try training("mobilenetv2-block", .f32(1, 6, 6, 24))
        let off = try PassPipeline([FuseResidualBlocks(), FuseBlockBackward()]).run(g, context: PassContext(threads: 2, options: ["fuse-residual-blocks": "off"]))
        XCTAssertTrue(off.notes.contains("fuse-block-backward: no fused forward block: the backward runs op by op"), "\(off.notes)")
        XCTAssertFalse(off.function.nodes.contains { $0.op == .fused })
        let kept = try PassPipeline([FuseResidualBlocks(), FuseBlockBackward()]).run(g, context: PassContext(threads: 2, options: ["fuse-residual-blocks": "on", "fuse-block-backward": "off"]))
        XCTAssertEqual(kept.function.nodes.filter { $0.op == .fused }.count, 1)
        XCTAssertThrowsError(try PassPipeline([FuseBlockBackward()]).run(g, context: PassContext(options: ["fuse-block-backward": "maybe"])))
    }

    /// HorNet's backward splits at its concats into three regions; a 1x1 weight gradient whose
    /// dy comes from a concat joins none of them and stays one GEMM (not a loop nest).
    func testHorNetSeveralRegionsAndAGEMMLeftOutside() throws {
        let (m, g) = try training("hornet-block", .f32(1, 12, 10, 64))
        let r = try fused(g)
        XCTAssertEqual(r.function.nodes.filter { $0.attributes.symbol("direction") == "backward" }.count, 3, "\(r.notes)")
        XCTAssertFalse(r.function.nodes.contains { $0.op == .conv2d_backward_weight && $0.attributes.ints("kernel") == [1, 1] })
        XCTAssertTrue(r.notes.contains { $0.contains("stay one GEMM") }, "\(r.notes)")
        let ins = trainingInputs(m, g, seed: 6)
        let want = try Interpreter(precision: .f64).run(g, inputs: ins)
        for (i, (a, b)) in zip(try Executable(r.function, kind: .compiled, threads: 2).run(ins), want).enumerated() {
            XCTAssertLessThanOrEqual(scaledError(a.floats, b.floats), 2e-5, "result \(i)")
        }
    }

    /// With checkpointing the recompute copy of the forward kernel comes first, then the
    /// backward kernel; the gradients do not change.
    func testWithCheckpointing() throws {
        let (m, g) = try training("mobilenetv2-block", .f32(2, 8, 6, 24))
        let options = ["fuse-residual-blocks": "on", "checkpoint-residual-blocks": "on", "fuse-block-backward-recompute": "off"]
        let r = try PassPipeline.all.run(g, context: PassContext(threads: 2, options: options))
        let exe = try Executable(r.function, kind: .compiled, threads: 2)
        XCTAssertEqual(exe.program.allKernels.filter { $0.name.contains("fused_rows") }.count, 3, "forward, recompute, backward")
        let ins = trainingInputs(m, g, seed: 5)
        let want = try Interpreter(precision: .f64).run(g, inputs: ins)
        for (i, (a, b)) in zip(try exe.run(ins), want).enumerated() {
            XCTAssertLessThanOrEqual(scaledError(a.floats, b.floats), 2e-5, "result \(i)")
        }
    }
}
