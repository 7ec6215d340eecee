import Foundation
import XCTest
import KilnIR
import KilnFrontend
import KilnCodegen
@testable import KilnRuntime

/// Seeded values for every argument of `f` (ids in 0..<5 for i32).
func seededInputs(_ f: Function, seed: UInt64, positive: Bool = false) -> [String: HostTensor] {
    var out: [String: HostTensor] = [:]
    for a in f.arguments {
        let t = f.type(of: a)
        var rng = SeededRandom(seed: seed, name: f.name(of: a))
        if t.dtype == .i32 {
            out[f.name(of: a)] = HostTensor(shape: t.shape, ints: (0..<t.elementCount).map { _ in Int32(rng.next() % 5) })
        } else {
            out[f.name(of: a)] = HostTensor(shape: t.shape, floats: rng.uniformFloats(t.elementCount, positive ? 0.1 : -1, 1))
        }
    }
    return out
}

/// Compiled and unfused executors against the reference interpreter.
final class ExecutableTests: XCTestCase {
    func randomInputs(_ f: Function, seed: UInt64, positive: Bool = false) -> [String: HostTensor] {
        seededInputs(f, seed: seed, positive: positive)
    }

    /// Runs `f` in the interpreter and with both executors (1 and 2 threads); asserts agreement.
    func check(_ f: Function, positive: Bool = false, tol: Float = 2e-4, _ what: String = "", line: UInt = #line) throws {
        let inputs = randomInputs(f, seed: 3, positive: positive)
        let want = try Interpreter().run(f, inputs: inputs)
        for kind in ExecutorKind.allCases {
            for threads in [1, 2] {
                let got = try Executable(f, kind: kind, threads: threads).run(inputs)
                XCTAssertEqual(got.count, want.count)
                for (g, w) in zip(got, want) {
                    XCTAssertEqual(g.shape, w.shape, line: line)
                    var worst: Float = 0
                    for (x, y) in zip(g.floats, w.floats) {
                        if x.isNaN != y.isNaN { worst = .infinity; break }
                        if !x.isNaN { worst = max(worst, abs(x - y) / (1 + abs(y))) }
                    }
                    XCTAssertLessThanOrEqual(worst, tol, "\(what) \(kind) threads \(threads)", line: line)
                }
            }
        }
    }

    func single(_ op: OpKind, _ types: [TensorType], _ attrs: Attributes = [:]) throws -> Function {
        let b = FunctionBuilder(name: "op_\(op)")
        let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
        return b.finish(results: try b.add(op, ids, attributes: attrs))
    }

    /// relu and relu6 compile to one max (and min) per vector; NaN must still come out NaN, as in
    /// the interpreter, and the clamps must hold at and around 0 and 6.
    func testReluClampsAndPropagatesNaN() throws {
        let xs: [Float] = [.nan, -1, -0.0, 0, 0.5, 6, 6.5, .infinity, -.infinity] + (0..<23).map { Float($0) * 0.37 - 2 }
        for op in [OpKind.relu, .relu6] {
            let f = try single(op, [.f32(xs.count)])
            let inputs = ["in0": HostTensor(shape: [xs.count], floats: xs)]
            let want = try Interpreter().run(f, inputs: inputs)[0].floats
            for kind in ExecutorKind.allCases {
                let got = try Executable(f, kind: kind, threads: 1).run(inputs)[0].floats
                for (i, (g, w)) in zip(got, want).enumerated() {
                    XCTAssertTrue(g == w || (g.isNaN && w.isNaN), "\(op) \(kind) x=\(xs[i]): \(g) vs interpreter \(w)")
                }
            }
        }
    }

    func testElementwiseOddSizes() throws {
        for n in [1, 7, 17, 1000, 1031] {
            for op in [OpKind.neg, .exp, .tanh, .sigmoid, .logsigmoid, .relu, .relu6, .gelu, .silu, .softplus, .abs, .erf, .step] {
                try check(try single(op, [.f32(n)]), "\(op) n=\(n)")
            }
            for op in [OpKind.log, .sqrt, .rsqrt] { try check(try single(op, [.f32(n)]), positive: true, "\(op) n=\(n)") }
            try check(try single(.gelu, [.f32(n)], ["approximate": .symbol("tanh")]), "gelu tanh")
        }
        for op in [OpKind.add, .sub, .mul, .div, .max, .min] {
            try check(try single(op, [.f32(3, 1, 7), .f32(5, 1)]), positive: op == .div, "\(op) broadcast")
            try check(try single(op, [.f32(17), .f32()]), positive: op == .div, "\(op) scalar")
        }
        try check(try single(.broadcast, [.f32(3, 1)], ["shape": .ints([2, 3, 5])]), "broadcast")
    }

    func testContractions() throws {
        try check(try single(.linear, [.f32(2, 7, 13), .f32(13, 17), .f32(17)]), "linear")
        try check(try single(.linear, [.f32(97, 33), .f32(33, 65)]), "linear no bias")
        try check(try single(.matmul, [.f32(2, 1, 5, 7), .f32(3, 7, 4)]), "matmul batch broadcast")
        try check(try single(.embedding, [.f32(5, 3), .i32(2, 7)]), "embedding")
    }

    func testConvolutionsAndPooling() throws {
        try check(try single(.conv2d, [.f32(2, 9, 8, 4), .f32(3, 3, 2, 6), .f32(6)],
                             ["stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)]), "grouped conv")
        try check(try single(.conv2d, [.f32(1, 7, 7, 5), .f32(7, 7, 1, 5), .f32(5)], ["padding": .ints([3, 3, 3, 3]), "groups": .int(5)]), "depthwise")
        try check(try single(.conv2d, [.f32(1, 1, 1, 3), .f32(1, 1, 3, 2)]), "1x1 image")
        try check(try single(.conv2d_backward_input, [.f32(2, 3, 5, 6), .f32(3, 3, 2, 6)],
                             ["input_size": .ints([7, 6]), "stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)]), "conv bwd input")
        // The input gradient's three loop forms: dense (weights transposed per tap, input
        // channels innermost), depthwise (channels innermost) and a depthwise multiplier of 2.
        try check(try single(.conv2d_backward_input, [.f32(1, 6, 5, 12), .f32(3, 3, 10, 12)],
                             ["input_size": .ints([6, 5]), "padding": .ints([1, 1, 1, 1])]), "dense conv bwd input")
        try check(try single(.conv2d_backward_input, [.f32(2, 8, 9, 11), .f32(7, 7, 1, 11)],
                             ["input_size": .ints([8, 9]), "padding": .ints([3, 3, 3, 3]), "groups": .int(11)]), "depthwise conv bwd input")
        try check(try single(.conv2d_backward_input, [.f32(1, 4, 4, 6), .f32(3, 3, 1, 6)],
                             ["input_size": .ints([8, 9]), "stride": .ints([2, 2]), "padding": .ints([1, 0, 1, 0]), "groups": .int(3)]),
                  "depthwise x2 conv bwd input")
        try check(try single(.conv2d_backward_weight, [.f32(2, 7, 6, 4), .f32(2, 3, 5, 6)],
                             ["kernel": .ints([3, 3]), "stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)]), "conv bwd weight")
        // With 8 or more output channels per group the weight gradient is tile matmuls per tap.
        try check(try single(.conv2d_backward_weight, [.f32(2, 7, 6, 8), .f32(2, 3, 5, 16)],
                             ["kernel": .ints([3, 3]), "stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)]),
                  "grouped conv bwd weight by tiles")
        try check(try single(.conv2d_backward_weight, [.f32(1, 6, 5, 10), .f32(1, 6, 5, 12)], ["kernel": .ints([3, 3]), "padding": .ints([1, 1, 1, 1])]),
                  "dense conv bwd weight by tiles")
        try check(try single(.max_pool2d_backward, [.f32(2, 5, 4, 3), .f32(2, 3, 4, 3)], ["window": .ints([3, 2]), "stride": .ints([2, 1]), "padding": .ints([1, 1, 0, 1])]), "maxpool bwd")
        try check(try single(.embedding_backward, [.i32(2, 7), .f32(2, 7, 3)], ["rows": .int(5)]), "embedding bwd")
        try check(try single(.conv1d, [.f32(2, 13, 3), .f32(3, 3, 4), .f32(4)], ["padding": .ints([4, 0]), "dilation": .int(2)]), "causal conv1d")
        for op in [OpKind.max_pool2d, .avg_pool2d] {
            try check(try single(op, [.f32(1, 5, 4, 3)], ["window": .ints([3, 2]), "stride": .ints([2, 1]), "padding": .ints([1, 1, 0, 1])]), "\(op)")
        }
    }

    func testNormalizationsReductionsLayout() throws {
        try check(try single(.layer_norm, [.f32(3, 17), .f32(17), .f32(17)]), "layer_norm")
        try check(try single(.rms_norm, [.f32(3, 17), .f32(17)]), "rms_norm")
        for training in [false, true] {
            try check(try single(.batch_norm, [.f32(2, 3, 5), .f32(5), .f32(5), .f32(5), .f32(5)], ["training": .bool(training)]),
                      positive: true, "batch_norm \(training)")
        }
        try check(try single(.softmax, [.f32(3, 7, 2)], ["axis": .int(1)]), "softmax")
        try check(try single(.log_softmax, [.f32(3, 7)]), "log_softmax")
        try check(try single(.reduce_sum, [.f32(2, 3, 4)], ["axes": .ints([0, 2])]), "sum")
        try check(try single(.reduce_mean, [.f32(2, 3, 4)], ["axes": .ints([1]), "keepdims": .bool(true)]), "mean")
        try check(try single(.reduce_max, [.f32(2, 3, 4)], ["axes": .ints([-1])]), "max")
        try check(try single(.permute, [.f32(2, 3, 4)], ["perm": .ints([2, 0, 1])]), "permute")
        try check(try single(.slice, [.f32(2, 9, 4)], ["axis": .int(1), "start": .int(1), "end": .int(8), "step": .int(3)]), "slice")
        try check(try single(.concat, [.f32(2, 1, 3), .f32(2, 4, 3)], ["axis": .int(1)]), "concat")
        try check(try single(.split, [.f32(2, 5, 3)], ["axis": .int(1), "sizes": .ints([2, 3])]), "split")
        try check(try single(.reshape, [.f32(2, 6)], ["shape": .ints([3, 4])]), "reshape")
        for (rev, exc) in [(false, false), (true, false), (false, true), (true, true)] {
            try check(try single(.cumsum, [.f32(3, 5, 2)], ["axis": .int(1), "reverse": .bool(rev), "exclusive": .bool(exc)]), "cumsum")
        }
        try check(try single(.constant, [], ["shape": .ints([2, 2]), "values": .floats([1, 2, 3, 4])]), "constant")
        // An i32 constant feeding an embedding must hold integers, not float bit patterns.
        let b = FunctionBuilder(name: "const_ids")
        let table = try b.addInput("table", .f32(5, 2))
        let ids = try b.add1(.constant, [], attributes: ["dtype": .symbol("i32"), "shape": .ints([3]), "values": .floats([4, 0, 2])])
        try check(b.finish(results: [try b.add1(.embedding, [table, ids])]), "i32 constant ids")
    }

    /// Permutes that are batched 2-D transposes lower to register-transposed blocks
    /// (`Lower+Transpose`), others to a gather; reductions over leading axes sweep blocks of
    /// columns. Ragged blocks, size-1 axes and merged axis groups.
    func testTransposesAndLeadingReductions() throws {
        let permutes: [([Int], [Int], Bool)] = [
            ([70, 130], [1, 0], true),
            ([3, 5, 67], [0, 2, 1], true),
            ([2, 3, 4, 5], [2, 3, 0, 1], true),    // axis groups (0 1) and (2 3) swap
            ([2, 1, 9, 17], [0, 3, 1, 2], true),   // a size-1 axis moves with them
            ([2, 3, 4, 5], [0, 2, 1, 3], false),   // the innermost axis stays: a gather
            ([4, 6, 5], [1, 0, 2], false),
        ]
        for (shape, perm, transposes) in permutes {
            let f = try single(.permute, [TensorType(.f32, shape)], ["perm": .ints(perm)])
            try check(f, tol: 0, "permute \(shape) by \(perm)")
            let names = try Executable(f, kind: .compiled, threads: 1).program.allKernels.map(\.name)
            XCTAssertEqual(names.contains { $0.hasSuffix("_transpose") }, transposes, "permute \(shape) by \(perm): \(names)")
        }
        for (op, shape, axes) in [(OpKind.reduce_sum, [37, 3, 70], [0, 1]), (.reduce_mean, [5, 7, 2050], [0]), (.reduce_max, [9, 11], [0]),
                                  (.reduce_sum, [6, 4, 1, 3], [0, 1, 2])] {
            try check(try single(op, [TensorType(.f32, shape)], ["axes": .ints(axes)]), "\(op) of \(shape) over \(axes)")
        }
    }

    /// The compiled executor runs GEMMs of at least `tiledGemmMinimumMACs` multiply-adds as a
    /// B-packing kernel and row blocks of tile matmuls (`TiledGemms`); the unfused one keeps
    /// OpenBLAS. Ragged everywhere: 300 rows (128-row blocks), 900 columns (32-column panels),
    /// K = 1030, and the bias makes the product accumulate.
    func testLargeGemmsRunAsTileKernels() throws {
        let (m, k, n) = (300, 1030, 900)
        XCTAssertGreaterThanOrEqual(m * k * n, KernelProgram.tiledGemmMinimumMACs)
        let f = try single(.linear, [.f32(1, m, k), .f32(k, n), .f32(n)])
        try check(f, tol: 1e-4, "large linear")
        let compiled = try Executable(f, kind: .compiled, threads: 2)
        XCTAssertTrue(compiled.program.allKernels.contains { $0.name.hasSuffix("_tiles") }, "tile kernels in the compiled program")
        let unfused = try Executable(f, kind: .unfused, threads: 2)
        XCTAssertTrue(unfused.program.steps.contains { if case .gemm = $0 { return true }; return false }, "the unfused program keeps its GEMM step")
    }

    func testLinearAttentionEveryGate() throws {
        let (b, t, h, dk, dv) = (2, 9, 2, 5, 3)
        let q = TensorType.f32(b, t, h, dk), v = TensorType.f32(b, t, h, dv), h0 = TensorType.f32(b, h, dk, dv)
        try check(try single(.linear_attention, [q, q, v, h0], ["scale": .float(0.5), "final_state": .bool(true)]), "none")
        // Gates in (0, 1] of log space: inputs drawn in [0.1, 1) are used as -g.
        for (gate, gt) in [("scalar", TensorType.f32(b, t, h)), ("key", q), ("delta", .f32(b, t, h))] {
            let bld = FunctionBuilder(name: "la_\(gate)")
            let ids = try [q, q, v, gt, h0].enumerated().map { try bld.addInput("in\($0.offset)", $0.element) }
            let g = gate == "delta" ? ids[3] : try bld.add1(.neg, [ids[3]])
            let f = bld.finish(results: try bld.add(.linear_attention, [ids[0], ids[1], ids[2], g, ids[4]],
                                                    attributes: ["gate": .symbol(gate), "scale": .float(0.5), "final_state": .bool(true)]))
            try check(f, positive: true, gate)
        }
    }

    func testLinearAttentionBackwardEveryGate() throws {
        let (b, t, h, dk, dv) = (2, 7, 2, 3, 4)
        let q = TensorType.f32(b, t, h, dk), v = TensorType.f32(b, t, h, dv), s = TensorType.f32(b, h, dk, dv)
        for (gate, gt) in [("none", nil), ("scalar", TensorType.f32(b, t, h)), ("key", q), ("delta", .f32(b, t, h))] as [(String, TensorType?)] {
            for hasH0 in [false, true] {
                let types = [q, q, v] + (gt.map { [$0] } ?? []) + (hasH0 ? [s] : []) + [v, s]
                let bld = FunctionBuilder(name: "la_bwd_\(gate)")
                var ids = try types.enumerated().map { try bld.addInput("in\($0.offset)", $0.element) }
                if gate == "scalar" || gate == "key" { ids[3] = try bld.add1(.neg, [ids[3]]) }
                let f = bld.finish(results: try bld.add(.linear_attention_backward, ids,
                                                        attributes: ["gate": .symbol(gate), "scale": .float(0.5), "has_h0": .bool(hasH0)]))
                try check(f, positive: true, "la backward \(gate) h0=\(hasH0)")
            }
        }
    }

    func testZooModelsAtSmallShapes() throws {
        for m in Zoo.models {
            let s = m.defaultInput.shape
            let input: TensorType = s.count == 4 ? .f32(2, 9, 7, s[3]) : .f32(1, 19, s[2])
            let traced = try m.trace(input: input)
            var inputs = randomInputs(traced.function, seed: 5)
            for (name, t) in traced.parameters { inputs[name] = t }
            let want = try Interpreter().run(traced.function, inputs: inputs)
            for kind in ExecutorKind.allCases {
                let got = try Executable(traced.function, kind: kind, threads: 2).run(inputs)
                let worst = zip(got[0].floats, want[0].floats).map { abs($0 - $1) / (1 + abs($1)) }.max()!
                XCTAssertLessThanOrEqual(worst, 1e-3, "\(m.name) \(kind)")
            }
        }
    }

    func testInputValidationAndDeterminism() throws {
        let f = try single(.embedding, [.f32(5, 3), .i32(4)])
        let e = try Executable(f, threads: 2)
        XCTAssertThrowsError(try e.run(["in0": HostTensor(zeros: .f32(5, 3)), "in1": HostTensor(shape: [4], ints: [0, 1, 9, 2])])) {
            XCTAssertTrue("\($0)".contains("id 9"), "\($0)")
        }
        XCTAssertThrowsError(try e.run(["in0": HostTensor(zeros: .f32(5, 4)), "in1": HostTensor(zeros: .i32(4))])) {
            XCTAssertTrue("\($0)".contains("expected f32[5,3]"), "\($0)")
        }
        let g = try Zoo.model(named: "convnext-block")!.trace(input: .f32(1, 8, 8, 96))
        var inputs = randomInputs(g.function, seed: 1)
        for (n, t) in g.parameters { inputs[n] = t }
        let x = try Executable(g.function, threads: 2)
        XCTAssertEqual(try x.run(inputs), try x.run(inputs), "same inputs, same bits")
        XCTAssertLessThan(x.peakArenaBytes, x.plan.unplannedBytes, "the memory plan reuses buffers")
    }
}

/// The AVX2 path and the compile cache.
final class ExecutableTargetTests: XCTestCase {
    func testAVX2OnlyTargetMatchesTheInterpreter() throws {
        guard HostTarget.host.features.contains("+avx2") else { throw XCTSkip("this CPU has no AVX2") }
        for name in ["convnext-block", "gla-block", "tcn-block"] {
            let m = Zoo.model(named: name)!
            let input: TensorType = m.defaultInput.rank == 4 ? .f32(1, 6, 5, m.defaultInput.shape[3]) : .f32(1, 11, m.defaultInput.shape[2])
            let traced = try m.trace(input: input)
            var inputs = seededInputs(traced.function, seed: 2)
            for (n, t) in traced.parameters { inputs[n] = t }
            let want = try Interpreter().run(traced.function, inputs: inputs)[0].floats
            let exe = try Executable(traced.function, kind: .compiled, threads: 2, target: .avx2)
            let got = try exe.run(inputs)[0].floats
            XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) / (1 + abs($1)) }.max()!, 1e-3, name)
        }
        let f = try Zoo.model(named: "ffn-block")!.trace(input: .f32(1, 4, 512)).function
        let asm = try CompiledProgram(try Lowering.lower(f, target: .avx2), target: .avx2, emitAssembly: true).assembly
        XCTAssertTrue(asm.contains("ymm"))
        XCTAssertFalse(asm.contains("zmm"), "AVX2 code must not use AVX-512 registers")
        if HostTarget.host.features.contains("+avx512f") {
            XCTAssertTrue(try CompiledProgram(try Lowering.lower(f), emitAssembly: true).assembly.contains("zmm"))
        }
    }

    func testCompileCacheKeysOnGraphAndTarget() throws {
        let f = try Zoo.model(named: "tcn-block")!.trace(input: .f32(1, 9, 128)).function
        let a = try CompileCache.shared.program(for: f)
        let b = try CompileCache.shared.program(for: f)
        XCTAssertTrue(a === b, "same graph and target: one compilation")
        let c = try CompileCache.shared.program(for: f, target: .avx2)
        XCTAssertFalse(a === c, "another target compiles again")
        let g = try Zoo.model(named: "tcn-block")!.trace(input: .f32(1, 10, 128)).function
        XCTAssertFalse(a === (try CompileCache.shared.program(for: g)), "another shape compiles again")
    }
}
