import XCTest
@testable import KilnCodegen
import KilnIR

/// The in-kernel `matmul` statement against a plain triple loop: odd sizes, transposed A,
/// accumulation, C inside a wider matrix (canaries around the tile must survive), a size
/// that is a run-time expression, scratch buffers, on the host and on an AVX2-only target.
final class TileMatmulTests: XCTestCase {
    struct Case {
        var m, n, k: Int; var transposedA = false; var accumulate = false; var packedB = false
        /// Columns per packed B panel (nil: the target's own, `HostTarget.panelWidth`).
        var panelWidth: Int? = nil
        /// An epilogue: C = activation(C * scale[j] + shift[j]), scale and shift read 3 elements into their buffers.
        var epilogue: MathFn? = nil
    }

    @discardableResult
    func run(_ c: Case, target: HostTarget) throws -> CompiledProgram {
        let ldc = c.n + 5, rowsC = c.m + 2, cOffset = ldc + 2  // the tile starts at row 1, column 2
        var rng = SeededRandom(seed: UInt64(c.m * 1000 + c.n * 10 + c.k))
        let a = (0..<(c.m * c.k)).map { _ in Float(rng.uniform(-1, 1)) }
        let b = (0..<(c.k * c.n)).map { _ in Float(rng.uniform(-1, 1)) }
        let c0 = (0..<(rowsC * ldc)).map { _ in Float(rng.uniform(-1, 1)) }
        // A row-major [m, k], or stored transposed [k, m] and read with swapped strides.
        let aStored = c.transposedA ? (0..<(c.k * c.m)).map { i in a[(i % c.m) * c.k + i / c.m] } : a
        // B row-major, or in pw-column panels [n/pw][k][pw], zero-padded.
        let pw = c.panelWidth ?? target.panelWidth, panels = (c.n + pw - 1) / pw
        let bStored = !c.packedB ? b : (0..<(panels * c.k * pw)).map { i -> Float in
            let (jp, p, jj) = (i / (c.k * pw), (i / pw) % c.k, i % pw)
            return jp * pw + jj < c.n ? b[p * c.n + jp * pw + jj] : 0
        }
        let buffers = [
            KernelBuffer(name: "a", elements: a.count, isInt: false, role: .input),
            KernelBuffer(name: "b", elements: bStored.count, isInt: false, role: .input),
            KernelBuffer(name: "c", elements: c0.count, isInt: false, role: .output),
            KernelBuffer(name: "a.copy", elements: a.count, isInt: false, role: .scratch),
            KernelBuffer(name: "scale", elements: c.n + 3, isInt: false, role: .input),
            KernelBuffer(name: "shift", elements: c.n + 3, isInt: false, role: .input),
        ]
        let scale = (0..<(c.n + 3)).map { _ in Float(rng.uniform(0.5, 2)) }, shift = (0..<(c.n + 3)).map { _ in Float(rng.uniform(-1, 1)) }
        let epilogue = c.epilogue.map { TileEpilogue(scale: 4, scaleOffset: 3, shift: 5, shiftOffset: 3, activation: $0) }
        // Copy A into scratch, then multiply from there; m comes from a loop variable.
        let body: [KStmt] = [
            .loop("i", .int(a.count), parallel: false, [.store(3, .ivar("i"), .load(0, .ivar("i")))]),
            .loop("once", .int(1), parallel: false, [
                .letInt("rows", .iop(.add, .ivar("once"), .int(c.m))),
                .matmul(TileMatmul(m: .ivar("rows"), n: .int(c.n), k: .int(c.k), a: 3, aOffset: 0,
                                   aRowStride: .int(c.transposedA ? 1 : c.k), aColStride: .int(c.transposedA ? c.m : 1),
                                   b: 1, bOffset: 0, ldb: .int(c.n), c: 2, cOffset: .int(cOffset), ldc: .int(ldc),
                                   accumulate: c.accumulate, bPanels: c.packedB ? PackedPanels(width: pw, stride: .int(c.k * pw)) : nil, epilogue: epilogue)),
            ]),
        ]
        let kernel = KernelFunction(name: "mm", buffers: [0, 1, 2, 4, 5], parallelCount: 1, body: body,
                                    scratch: [ScratchBuffer(id: 3, elements: a.count)])
        let program = KernelProgram(name: "t", buffers: buffers, steps: [.kernel(kernel)], argumentBuffers: [0, 1], resultBuffers: [2])
        let compiled = try CompiledProgram(program, target: target)
        var (av, bv, cv, sv, tv) = (aStored, bStored, c0, scale, shift)
        av.withUnsafeMutableBufferPointer { ap in
            bv.withUnsafeMutableBufferPointer { bp in
                cv.withUnsafeMutableBufferPointer { cp in
                    sv.withUnsafeMutableBufferPointer { sp in
                        tv.withUnsafeMutableBufferPointer { tp in
                            var table: [UnsafeMutablePointer<Float>?] = [ap.baseAddress, bp.baseAddress, cp.baseAddress, sp.baseAddress, tp.baseAddress]
                            table.withUnsafeMutableBufferPointer { compiled.functions["mm"]!(0, 1, $0.baseAddress!) }
                        }
                    }
                }
            }
        }
        for r in 0..<rowsC {
            for col in 0..<ldc {
                let idx = r * ldc + col
                let inside = r >= 1 && r <= c.m && col >= 2 && col < 2 + c.n
                var want = c0[idx]
                if inside {
                    let (i, j) = (r - 1, col - 2)
                    var s: Double = 0
                    for p in 0..<c.k { s += Double(a[i * c.k + p]) * Double(b[p * c.n + j]) }
                    want = Float(s) + (c.accumulate ? c0[idx] : 0)
                    if let f = c.epilogue {
                        let v = Double(want) * Double(scale[3 + j]) + Double(shift[3 + j])
                        switch f {
                        case .relu6: want = Float(min(max(v, 0), 6))
                        case .gelu: want = Float(0.5 * v * Foundation.erfc(-v / 2.0.squareRoot()))
                        default: XCTFail("no reference for \(f)")
                        }
                    }
                }
                XCTAssertEqual(cv[idx], want, accuracy: inside ? 1e-4 * Float(c.k) : 0,
                               "\(c) on \(target.cpu): C[\(r),\(col)]\(inside ? "" : " outside the tile was touched")")
            }
        }
        return compiled
    }

    func testAgainstTripleLoop() throws {
        let cases = [
            Case(m: 1, n: 1, k: 1), Case(m: 14, n: 32, k: 8), Case(m: 56, n: 144, k: 24), Case(m: 13, n: 24, k: 144),
            Case(m: 29, n: 33, k: 7, accumulate: true), Case(m: 3, n: 100, k: 5, transposedA: true),
            Case(m: 56, n: 64, k: 64, transposedA: true, accumulate: true), Case(m: 6, n: 16, k: 3), Case(m: 7, n: 17, k: 0),
            Case(m: 56, n: 144, k: 24, packedB: true), Case(m: 13, n: 40, k: 9, accumulate: true, packedB: true),
            Case(m: 5, n: 100, k: 33, transposedA: true, packedB: true),
            // K over the blocks (128 deep on AVX-512, 256 on AVX2): exactly one block, one more,
            // a ragged last block, the deepest K run as one block (1.5 blocks) and one deeper.
            Case(m: 15, n: 32, k: 128, accumulate: true, packedB: true), Case(m: 17, n: 40, k: 129, packedB: true),
            Case(m: 30, n: 33, k: 300, transposedA: true, accumulate: true),
            Case(m: 15, n: 32, k: 256, accumulate: true, packedB: true), Case(m: 17, n: 40, k: 257, packedB: true),
            Case(m: 8, n: 48, k: 384, packedB: true), Case(m: 7, n: 20, k: 385, accumulate: true, packedB: true),
            Case(m: 13, n: 33, k: 700, transposedA: true, accumulate: true),
            // Epilogues, with one K block and with several (applied once, after the last).
            Case(m: 20, n: 40, k: 24, packedB: true, epilogue: .relu6), Case(m: 13, n: 24, k: 300, epilogue: .gelu),
            Case(m: 9, n: 50, k: 140, accumulate: true, packedB: true, epilogue: .relu6),
            // Row remainders of a 32-row linear-attention chunk (6-row tiles: 4 x 6 + 4 + 4, the
            // last 8 rows split in two; 14-row: 2 x 14 + 4) and of 9 rows with a transposed A;
            // 16 and 30 rows split the same way with 14-row tiles (14 + 2 -> 8 + 8).
            Case(m: 32, n: 128, k: 32, accumulate: true), Case(m: 9, n: 16, k: 5, transposedA: true),
            Case(m: 16, n: 48, k: 20, packedB: true), Case(m: 30, n: 40, k: 12, accumulate: true),
            // B of 128 KiB or more: the next column panel is prefetched (packed, ragged K blocks;
            // unpacked with a ragged last panel).
            Case(m: 13, n: 160, k: 260, packedB: true), Case(m: 7, n: 150, k: 256, accumulate: true),
            // A token group of the fused FFN: 128 rows (20 x 6 + 4 + 4), prefetches spread over the tiles.
            Case(m: 128, n: 512, k: 128, accumulate: true, packedB: true),
            // Panels twice the tile width (AVX2 tiles reading half of each 32-column panel row).
            Case(m: 13, n: 40, k: 9, accumulate: true, packedB: true, panelWidth: 32),
            Case(m: 17, n: 72, k: 129, packedB: true, panelWidth: 32),
        ]
        for target in [HostTarget.host, .avx2] where target == .host || HostTarget.host.features.contains("+avx2") {
            for c in cases { try run(c, target: target) }
        }
    }

    /// Panels narrower than the target's tile cannot be read by its row kernels: a clear error.
    func testPanelsNarrowerThanTheTileAreRefused() throws {
        let narrow = HostTarget.avx2.panelWidth / 2
        guard HostTarget.host.features.contains("+avx2") else { return }
        XCTAssertThrowsError(try run(Case(m: 6, n: 16, k: 4, packedB: true, panelWidth: narrow), target: .avx2)) {
            XCTAssertTrue("\($0)".contains("panels of \(narrow) columns"), "\($0)")
        }
    }

    /// Only matmuls whose B block streams from L3 (K x N x 4 >= 128 KiB) get the prefetch loop.
    func testNextPanelPrefetchOnlyForLargeB() throws {
        let large = try run(Case(m: 6, n: 128, k: 256, packedB: true), target: .host)
        XCTAssertTrue(large.llvmIR.contains("llvm.prefetch"), "a 128 KiB B block should prefetch the next panel")
        let small = try run(Case(m: 6, n: 128, k: 255, packedB: true), target: .host)
        XCTAssertFalse(small.llvmIR.contains("llvm.prefetch"), "a B block under 128 KiB should not prefetch")
    }

    /// `perTile` runs once before every row-tile call with `tile` counting the calls and `tiles`
    /// the calls of one K block: checked against a counter the statements keep themselves (one
    /// block: tiles = calls; three K blocks: calls = 3 tiles), and the product is unchanged.
    /// K = 300 is three blocks of 128 on AVX-512 and one of 256 on AVX2; K = 700 three of 256.
    func testPerTileStatementsSeeEveryCall() throws {
        for target in [HostTarget.host, .avx2] where target == .host || HostTarget.host.features.contains("+avx2") {
            for (m, n, k) in [(1, 16, 8), (5, 20, 32), (6, 128, 32), (13, 40, 64), (31, 128, 128), (9, 24, 300), (7, 24, 700)] {
                let logSize = 4096
                var rng = SeededRandom(seed: UInt64(m * 7 + n * 3 + k))
                let a = (0..<(m * k)).map { _ in Float(rng.uniform(-1, 1)) }, b = (0..<(k * n)).map { _ in Float(rng.uniform(-1, 1)) }
                let buffers = [
                    KernelBuffer(name: "a", elements: a.count, isInt: false, role: .input),
                    KernelBuffer(name: "b", elements: b.count, isInt: false, role: .input),
                    KernelBuffer(name: "c", elements: m * n, isInt: false, role: .output),
                    KernelBuffer(name: "log", elements: logSize, isInt: false, role: .output),
                ]
                var t = TileMatmul(m: .int(m), n: .int(n), k: .int(k), a: 0, aOffset: 0, aRowStride: .int(k), aColStride: 1,
                                   b: 1, bOffset: 0, ldb: .int(n), c: 2, cOffset: 0, ldc: .int(n), accumulate: false)
                // log[0] counts the calls; log[1 + tile] = tiles.
                t.perTile = [
                    .store(3, .int(0), .fop(.add, .load(3, .int(0)), .float(1))),
                    .store(3, .iop(.add, .ivar("tile"), .int(1)), .toFloat(.ivar("tiles"))),
                ]
                let kernel = KernelFunction(name: "mm", buffers: [0, 1, 2, 3], parallelCount: 1, body: [.matmul(t)], scratch: [])
                let program = KernelProgram(name: "t", buffers: buffers, steps: [.kernel(kernel)], argumentBuffers: [0, 1], resultBuffers: [2, 3])
                XCTAssertTrue(program.description.contains("per tile %tile of %tiles {"), program.description)
                let compiled = try CompiledProgram(program, target: target)
                var (av, bv) = (a, b)
                var cv = [Float](repeating: .nan, count: m * n), log = [Float](repeating: -1, count: logSize)
                log[0] = 0
                av.withUnsafeMutableBufferPointer { ap in
                    bv.withUnsafeMutableBufferPointer { bp in
                        cv.withUnsafeMutableBufferPointer { cp in
                            log.withUnsafeMutableBufferPointer { lp in
                                var table: [UnsafeMutablePointer<Float>?] = [ap.baseAddress, bp.baseAddress, cp.baseAddress, lp.baseAddress]
                                table.withUnsafeMutableBufferPointer { compiled.functions["mm"]!(0, 1, $0.baseAddress!) }
                            }
                        }
                    }
                }
                let calls = Int(log[0]), what = "\(target) m \(m) n \(n) k \(k)"
                XCTAssertGreaterThan(calls, 0, what)
                let tiles = Int(log[1])
                let kBlock = GemmTile.forTarget(target).kBlock
                XCTAssertEqual(calls, k > kBlock + kBlock / 2 ? (k + kBlock - 1) / kBlock * tiles : tiles, what)
                for i in 0..<calls { XCTAssertEqual(Int(log[1 + i]), tiles, "\(what): call \(i)") }
                XCTAssertEqual(log[1 + calls], -1, "\(what): no call past \(calls)")
                for i in 0..<m {
                    for j in 0..<n {
                        var want = 0.0
                        for p in 0..<k { want += Double(a[i * k + p]) * Double(b[p * n + j]) }
                        XCTAssertEqual(Double(cv[i * n + j]), want, accuracy: 1e-4 * Double(k), "\(what) [\(i), \(j)]")
                    }
                }
            }
        }
    }

    /// A kernel's buffers are inferred from its body, including a matmul's `perTile`
    /// statements: a buffer only they touch must still be passed to the kernel.
    func testKernelDeclaresBuffersOnlyPerTileStatementsUse() {
        var context = LowerContext(name: "t", panelWidth: GemmTile.forTarget(.host).nr)
        let (a, b, c, log) = (context.temp("a", elements: 64), context.temp("b", elements: 64),
                              context.temp("c", elements: 64), context.temp("log", elements: 8))
        var t = TileMatmul(m: 8, n: 8, k: 8, a: a, aOffset: 0, aRowStride: 8, b: b, bOffset: 0, ldb: 8,
                           c: c, cOffset: 0, ldc: 8, accumulate: false)
        t.perTile = [.store(log, .ivar("tile"), .float(1))]
        context.kernel("mm", parallel: 1, [.matmul(t)])
        guard case .kernel(let k) = context.steps[0] else { return XCTFail("expected a kernel step") }
        XCTAssertEqual(k.buffers, [a, b, c, log].sorted())
    }
}
