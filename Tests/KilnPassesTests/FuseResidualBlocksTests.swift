import XCTest
import Kiln

/// `fuse-residual-blocks` on the zoo and on blocks the zoo does not have: which blocks it
/// finds, that each fused block compiles to exactly one kernel, and that the fused kernel
/// computes what the interpreter and the unfused executor compute.
final class FuseResidualBlocksTests: XCTestCase {
    /// Traced model with its own parameters plus a seeded input.
    func inputs(_ m: TracedModel, seed: UInt64 = 7) -> [String: HostTensor] {
        var values: [String: HostTensor] = [:]
        for (name, t) in m.parameters { values[name] = t }
        for a in m.function.inputs {
            var rng = SeededRandom(seed: seed, name: m.function.name(of: a))
            let t = m.function.type(of: a)
            values[m.function.name(of: a)] = HostTensor(shape: t.shape, floats: rng.uniformFloats(t.elementCount, -1, 1))
        }
        return values
    }

    func fused(_ f: Function, threads: Int = 2) throws -> Function {
        try PassPipeline([FuseResidualBlocks()]).run(f, context: PassContext(threads: threads, options: ["fuse-residual-blocks": "on"])).function
    }

    func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / (1 + abs($1.1))) }
    }

    /// Fuses `m`, expects `blocks` fused ops and `kernels` kernels in total, and compares the
    /// compiled fused program (1 and 2 threads) with the interpreter and the unfused executor.
    func check(_ m: TracedModel, blocks: Int, kernels: Int, tol: Float = 1e-4, line: UInt = #line) throws {
        let f = m.function
        let g = try fused(f)
        XCTAssertEqual(g.nodes.filter { $0.op == .fused }.count, blocks, "fused blocks in @\(f.name)", line: line)
        try g.verify()
        // The fused graph prints and parses back to itself.
        XCTAssertEqual(try parseFunction(g.printed(), file: "fused.kir").printed(), g.printed(), line: line)
        let ins = inputs(m)
        let want = try Interpreter().run(f, inputs: ins)[0].floats
        let viaBody = try Interpreter().run(g, inputs: ins)[0].floats
        XCTAssertLessThanOrEqual(maxRelativeError(viaBody, want), 1e-5, "interpreter runs the fused body", line: line)
        let unfused = try Executable(f, kind: .unfused, threads: 2).run(ins)[0].floats
        for threads in [1, 2] {
            let exe = try Executable(g, kind: .compiled, threads: threads)
            XCTAssertEqual(exe.program.allKernels.count, kernels, "kernels of fused @\(f.name)", line: line)
            let got = try exe.run(ins)[0].floats
            XCTAssertLessThanOrEqual(maxRelativeError(got, want), tol, "fused @\(f.name), \(threads) threads vs interpreter", line: line)
            XCTAssertLessThanOrEqual(maxRelativeError(got, unfused), tol, "fused @\(f.name), \(threads) threads vs unfused", line: line)
        }
    }

    func zoo(_ name: String, _ input: TensorType) throws -> TracedModel {
        try Zoo.model(named: name)!.trace(input: input, seed: 1)
    }

    func testConvNeXtBlock() throws { try check(try zoo("convnext-block", .f32(2, 9, 11, 96)), blocks: 1, kernels: 1) }
    func testInvertedResidualBlock() throws { try check(try zoo("mobilenetv2-block", .f32(2, 10, 7, 24)), blocks: 1, kernels: 1) }
    func testResNetBasicBlock() throws { try check(try zoo("resnet-basic-block", .f32(1, 8, 13, 64)), blocks: 1, kernels: 1) }
    func testHorNetBlock() throws { try check(try zoo("hornet-block", .f32(1, 9, 10, 64)), blocks: 2, kernels: 2) }
    func testInceptionNeXtBlock() throws { try check(try zoo("inceptionnext-block", .f32(1, 12, 13, 96)), blocks: 1, kernels: 1) }
    func testTransformerFFN() throws { try check(try zoo("ffn-block", .f32(2, 96, 512)), blocks: 1, kernels: 1) }

    /// The GLA block's FFN half fuses; its attention half (reshapes, linear attention) does not.
    func testGLABlockFFNHalf() throws {
        let m = try zoo("gla-block", .f32(1, 40, 512))
        let g = try fused(m.function)
        XCTAssertEqual(g.nodes.filter { $0.op == .fused }.count, 1)
        XCTAssertTrue(g.nodes.contains { $0.op == .linear_attention }, "attention half left as it is")
        let ins = inputs(m)
        let want = try Interpreter().run(m.function, inputs: ins)[0].floats
        let got = try Executable(g, kind: .compiled, threads: 2).run(ins)[0].floats
        XCTAssertLessThanOrEqual(maxRelativeError(got, want), 1e-4)
    }

    /// Blocks written here with the front end, not in the zoo.
    func testConvNeXtVariantFiveByFiveExpansionThree() throws {
        let m = try trace(ConvNeXtBlock(channels: 48, kernel: 5, expansion: 3), input: .f32(2, 10, 9, 48), name: "convnext_5x5_x3", seed: 4)
        try check(m, blocks: 1, kernels: 1)
    }

    func testInvertedResidualSiLUExpansionFour() throws {
        let m = try trace(InvertedResidualBlock(channels: 32, expansion: 4, kernel: 3, activation: .silu), input: .f32(2, 11, 8, 32),
                          name: "inverted_silu_x4", seed: 5)
        try check(m, blocks: 1, kernels: 1)
    }

    /// A residual block around an op the row schedule cannot run stays as it was, with a reason.
    func testUnsupportedBlockIsExplained() throws {
        let m = try zoo("tcn-block", .f32(1, 32, 128))
        let r = try PassPipeline([FuseResidualBlocks()]).run(m.function, context: PassContext(threads: 2))
        XCTAssertFalse(r.function.nodes.contains { $0.op == .fused })
        XCTAssertTrue(r.notes.contains { $0.contains("not fused: conv1d") }, "\(r.notes)")
    }
}
