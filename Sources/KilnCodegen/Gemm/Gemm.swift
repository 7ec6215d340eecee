import Foundation

/// Single-precision GEMM through Kiln's own JIT-compiled micro-kernel:
/// row-major `C[m,n] = A[m,k] · B[k,n]`, or `C += A·B` with `accumulate`.
///
/// Everything that runs per element is generated LLVM IR, compiled by the JIT for `target`:
/// the register-blocked micro-kernels (`GemmMicroKernel`, one per row height plus
/// one-vector-wide variants) and the A packing (`GemmPacking`, an in-register transpose).
///
/// BLIS-style blocking. B is packed in `kc x nc` blocks of NR-wide micro-panels (one micro-panel
/// stays in L1 while the micro-kernel sweeps the A block); A in `mc x kc` blocks of micro-panels
/// MR rows high (L2), the last rows of a block in exact smaller heights (13 = 8 + 4 + 1). Small
/// B blocks (at most `directBLimit` floats, K a multiple of the unroll) are read in place.
/// Packed panels are zero-padded to whole tiles and K to the unroll factor, so the kernel never
/// reads past a buffer; C edge tiles are stored with row guards and lane masks, so nothing
/// outside C's `m x n` block (with its `ldc` stride) is read or written.
///
/// Sizes and leading dimensions are checked with preconditions, as BLAS does.
///
/// `sgemm(..., threads:)` splits C into row (or column) bands computed concurrently, each with
/// its own packing buffers. One `Gemm` must not run two `sgemm` calls at the same time (the
/// buffers belong to the instance); use one instance per calling thread.
public final class Gemm: @unchecked Sendable {
    typealias Kernel = @convention(c) (Int64, UnsafePointer<Float>, Int64, UnsafePointer<Float>, Int64, UnsafeMutablePointer<Float>,
                                       Int64, Int64, Int64, Int64) -> Void
    typealias PackA = @convention(c) (UnsafePointer<Float>, Int64, Int64, UnsafeMutablePointer<Float>) -> Void
    public let target: HostTarget
    public let tile: GemmTile
    /// Cache blocking: K per packed panel, rows of A per packed block, columns of B per block.
    public let kc: Int, mc: Int, nc: Int
    /// B blocks of at most this many floats are read in place instead of packed.
    public let directBLimit: Int
    /// A blocks of at most this many floats are read in place instead of packed.
    public let directALimit: Int
    /// LLVM IR of the micro-kernels and packing routines after O3, for `kiln dump --emit llvm`.
    public let llvmIR: String

    private let code: CompiledCode
    /// Micro-kernel by height (every height in `tile.heights`).
    private let kernels: [Kernel?]
    /// One-vector-wide kernels by height, for a last column panel at most one vector wide
    /// (they read the same packed panels; half the FMAs of a full tile are not wasted).
    private let narrowKernels: [Kernel?]
    /// Full-height kernels reading A in place (small blocks), full and one vector wide.
    private let directKernel: Kernel
    private let directNarrowKernel: Kernel
    /// Vectorized A packing by height (nil where the height exceeds the vector width).
    private let packers: [PackA?]
    /// `panelHeights(rows)` for every rows in 0...mc.
    private let heightPlans: [[Int]]
    /// Packing buffers, one per worker thread.
    private let workspaces: [Workspace]
    /// The most threads one `sgemm` call uses.
    public var maxThreads: Int { workspaces.count }

    /// Default blocking, tuned on a 48 KiB L1d / 1 MiB L2 per core machine (AMD Zen 5).
    public static let defaultKC = 256, defaultMCPanels = 16, defaultNC = 3072, defaultDirectBLimit = 64 * 1024,
                      defaultDirectALimit = 16 * 1024

    public init(target: HostTarget = .host, jit: JIT? = nil, kc: Int = defaultKC, mcPanels: Int = defaultMCPanels,
                nc: Int = defaultNC, directBLimit: Int = defaultDirectBLimit, directALimit: Int = defaultDirectALimit, maxThreads: Int = 2) throws {
        self.directALimit = directALimit
        self.directBLimit = directBLimit
        self.target = target
        let tile = GemmTile.forTarget(target)
        self.tile = tile
        self.kc = max(tile.unroll, kc / tile.unroll * tile.unroll)
        self.mc = tile.mr * max(1, mcPanels)
        self.nc = max(tile.nr, nc / tile.nr * tile.nr)

        let module = try Module(name: "kiln_sgemm_\(tile.mr)x\(tile.nr)_\(target.cpu)", target: target)
        for h in tile.heights {
            GemmMicroKernel.emit(into: module, tile: tile.withRows(h))
            if tile.vectors > 1 { GemmMicroKernel.emit(into: module, tile: tile.withRows(h).narrow) }
            if h <= tile.width { GemmPacking.emitPackA(into: module, height: h, width: tile.width) }
        }
        for t in tile.vectors > 1 ? [tile, tile.narrow] : [tile] {
            GemmMicroKernel.emit(into: module, tile: t, directA: true)
        }
        try module.verify()
        try module.optimize()
        llvmIR = module.llvmIR
        let jit = try jit ?? JIT(target: target)
        code = try jit.add(module)
        var kernels = [Kernel?](repeating: nil, count: tile.mr + 1)
        for h in tile.heights {
            kernels[h] = unsafeBitCast(try code.address(of: GemmMicroKernel.name(tile.withRows(h))), to: Kernel.self)
        }
        self.kernels = kernels
        var narrowKernels = [Kernel?](repeating: nil, count: tile.mr + 1)
        if tile.vectors > 1 {
            for h in tile.heights {
                narrowKernels[h] = unsafeBitCast(try code.address(of: GemmMicroKernel.name(tile.withRows(h).narrow)), to: Kernel.self)
            }
        }
        self.narrowKernels = narrowKernels
        directKernel = unsafeBitCast(try code.address(of: GemmMicroKernel.name(tile, directA: true)), to: Kernel.self)
        directNarrowKernel = tile.vectors > 1
            ? unsafeBitCast(try code.address(of: GemmMicroKernel.name(tile.narrow, directA: true)), to: Kernel.self) : directKernel
        var packers = [PackA?](repeating: nil, count: tile.mr + 1)
        for h in tile.heights where h <= tile.width {
            packers[h] = unsafeBitCast(try code.address(of: GemmPacking.packAName(h)), to: PackA.self)
        }
        self.packers = packers
        heightPlans = (0...mc).map { Gemm.computePanelHeights($0, tile: tile) }
        let (mcFloats, ncFloats) = (mc * self.kc, self.nc * self.kc)
        workspaces = (0..<max(1, maxThreads)).map { _ in Workspace(packA: mcFloats, packB: ncFloats) }
    }

    /// Assembly of the compiled kernels for this target (`kiln dump --emit asm`), generated on
    /// demand from `llvmIR` by the same target machine.
    public func assembly() throws -> String {
        try CodegenInspection.assembly(llvmIR, target: target, optLevel: 0)
    }

    /// One thread's packed A block and packed B block (64-byte aligned).
    final class Workspace: @unchecked Sendable {
        let packA: UnsafeMutablePointer<Float>
        let packB: UnsafeMutablePointer<Float>
        init(packA a: Int, packB b: Int) {
            packA = Workspace.alignedFloats(a)
            packB = Workspace.alignedFloats(b)
        }
        deinit {
            packA.deallocate()
            packB.deallocate()
        }
        static func alignedFloats(_ n: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
                .bindMemory(to: Float.self, capacity: n)
        }
    }

    /// Row heights used to cover `rows` rows (at most `mc`): full tiles, then the remainder split
    /// exactly into smaller compiled heights (13 -> 8, 4, 1). Precomputed: no allocation per call.
    func panelHeights(_ rows: Int) -> [Int] { heightPlans[rows] }

    static func computePanelHeights(_ rows: Int, tile: GemmTile) -> [Int] {
        var out = [Int](repeating: tile.mr, count: rows / tile.mr)
        var rest = rows % tile.mr
        for h in tile.heights.dropFirst() where rest > 0 {
            while rest >= h { out.append(h); rest -= h }
        }
        return out
    }

    /// `C = A·B` (or `C += A·B` when `accumulate`), all row-major; leading dimensions in
    /// elements. Reads exactly `A[0..<m, 0..<k]`, `B[0..<k, 0..<n]` and writes exactly
    /// `C[0..<m, 0..<n]`.
    public func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false, threads: Int = 1) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size")
        precondition(lda >= max(k, 1) && ldb >= max(n, 1) && ldc >= max(n, 1), "sgemm: leading dimension too small")
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        // Threads only pay off with enough work per band (a few hundred microseconds of FMAs).
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let t = min(threads, maxThreads, flops >= 4e6 ? Int.max : 1)
        let bandsOfRows = m >= n
        let unit = bandsOfRows ? tile.mr : tile.nr
        let extent = bandsOfRows ? m : n
        let band = (extent + t - 1) / t
        let bandSize = (band + unit - 1) / unit * unit
        if t <= 1 || bandSize >= extent {
            run(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, ws: workspaces[0])
            return
        }
        let count = (extent + bandSize - 1) / bandSize
        let (aAddr, bAddr, cAddr) = (UInt(bitPattern: a), UInt(bitPattern: b), UInt(bitPattern: c))
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let lo = i * bandSize, size = min(bandSize, extent - lo)
            let a = UnsafePointer<Float>(bitPattern: aAddr)!, b = UnsafePointer<Float>(bitPattern: bAddr)!
            let c = UnsafeMutablePointer<Float>(bitPattern: cAddr)!
            if bandsOfRows {
                run(m: size, n: n, k: k, a: a + lo * lda, lda: lda, b: b, ldb: ldb, c: c + lo * ldc, ldc: ldc,
                    accumulate: accumulate, ws: workspaces[i])
            } else {
                run(m: m, n: size, k: k, a: a, lda: lda, b: b + lo, ldb: ldb, c: c + lo, ldc: ldc,
                    accumulate: accumulate, ws: workspaces[i])
            }
        }
    }

    /// One thread's GEMM with its own packing buffers.
    private func run(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, ws: Workspace) {
        let nr = tile.nr, u = tile.unroll
        let packA = ws.packA, packB = ws.packB
        for jc in stride(from: 0, to: n, by: nc) {
            let nb = min(nc, n - jc)
            for pc in stride(from: 0, to: k, by: kc) {
                let kb = min(kc, k - pc)
                let kPadded = (kb + u - 1) / u * u
                // Small blocks are read in place (no packing pass; they stay in cache anyway). A
                // partial last panel, or K not a multiple of the unroll, is always packed, so the
                // kernel never reads past B.
                let bBlock = b + pc * ldb + jc
                let direct = kb == kPadded && kb * nb <= directBLimit
                let fullPanels = nb / nr * nr
                if direct {
                    if fullPanels < nb { self.packB(bBlock + fullPanels, ldb: ldb, k: kb, n: nb - fullPanels, kPadded: kPadded, into: packB) }
                } else {
                    self.packB(bBlock, ldb: ldb, k: kb, n: nb, kPadded: kPadded, into: packB)
                }
                let acc: Int64 = (accumulate || pc > 0) ? 1 : 0
                for ic in stride(from: 0, to: m, by: mc) {
                    let mb = min(mc, m - ic)
                    // Small A blocks are read in place by the full-height direct kernels, when the
                    // rows they compute in vain (the last tile's rows past mb) are at most 1/16.
                    let aBlock = a + ic * lda + pc
                    let wasted = (mb + tile.mr - 1) / tile.mr * tile.mr - mb
                    let directA = kb == kPadded && mb * kb <= directALimit && wasted * 16 <= mb
                    let heights = panelHeights(mb)
                    if !directA { self.packA(aBlock, lda: lda, heights: heights, k: kb, kPadded: kPadded, into: packA) }
                    for jr in stride(from: 0, to: nb, by: nr) {
                        let inPlace = direct && jr < fullPanels
                        let bp = inPlace ? bBlock + jr : UnsafePointer(packB + (direct ? 0 : jr * kPadded))
                        let bStride = Int64(inPlace ? ldb : nr)
                        let nValid = Int64(min(nr, nb - jr))
                        if directA {
                            let kernel = nValid <= tile.width ? directNarrowKernel : directKernel
                            for ir in stride(from: 0, to: mb, by: tile.mr) {
                                kernel(Int64(kb / u), aBlock + ir * lda, Int64(lda), bp, bStride, c + (ic + ir) * ldc + jc + jr,
                                       Int64(ldc), Int64(min(tile.mr, mb - ir)), nValid, acc)
                            }
                            continue
                        }
                        let table = nValid <= tile.width && tile.vectors > 1 ? narrowKernels : kernels
                        var row = 0
                        for h in heights {
                            table[h].unsafelyUnwrapped(Int64(kPadded / u), UnsafePointer(packA + row * kPadded), 0, bp, bStride,
                                                        c + (ic + row) * ldc + jc + jr, Int64(ldc), Int64(h), nValid, acc)
                            row += h
                        }
                    }
                }
            }
        }
    }

    /// Packs `k x n` of B into NR-wide micro-panels laid out [panel][kPadded][NR], zero-padded.
    private func packB(_ src: UnsafePointer<Float>, ldb: Int, k: Int, n: Int, kPadded: Int, into dst: UnsafeMutablePointer<Float>) {
        let nr = tile.nr
        var out = dst
        for j0 in stride(from: 0, to: n, by: nr) {
            let w = min(nr, n - j0)
            var s = src + j0
            if w == nr {
                for _ in 0..<k {
                    copyFloats(from: s, to: out, count: nr)
                    s += ldb
                    out += nr
                }
            } else {
                for _ in 0..<k {
                    out.update(from: s, count: w)
                    (out + w).update(repeating: 0, count: nr - w)
                    s += ldb
                    out += nr
                }
            }
            if kPadded > k {
                out.update(repeating: 0, count: (kPadded - k) * nr)
                out += (kPadded - k) * nr
            }
        }
    }

    /// Packs rows of A into micro-panels of the given heights, laid out [panel][kPadded][h].
    private func packA(_ src: UnsafePointer<Float>, lda: Int, heights: [Int], k: Int, kPadded: Int, into dst: UnsafeMutablePointer<Float>) {
        var out = dst
        var row = 0
        let w = tile.width
        for h in heights {
            let rows = src + row * lda
            var k0 = 0
            if let packer = packers[h], k >= w {
                packer(rows, Int64(lda), Int64(k / w), out)
                k0 = k / w * w
            }
            if k0 < k {
                for r in 0..<h {
                    var s = rows + r * lda + k0
                    var o = out + k0 * h + r
                    for _ in k0..<k {
                        o.pointee = s.pointee
                        s += 1
                        o += h
                    }
                }
            }
            if kPadded > k { (out + k * h).update(repeating: 0, count: (kPadded - k) * h) }
            out += h * kPadded
            row += h
        }
    }
}

/// Copies `count` floats (a multiple of 16) with 64-byte vector moves.
@inline(__always)
private func copyFloats(from s: UnsafePointer<Float>, to d: UnsafeMutablePointer<Float>, count: Int) {
    let src = UnsafeRawPointer(s), dst = UnsafeMutableRawPointer(d)
    var off = 0
    while off + 16 <= count {
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: off * 4, as: SIMD16<Float>.self), toByteOffset: off * 4, as: SIMD16<Float>.self)
        off += 16
    }
    while off < count { d[off] = s[off]; off += 1 }
}
