import Foundation

/// Single-precision GEMM through Kiln's own JIT-compiled micro-kernel:
/// row-major C[m,n] = A[m,k] · B[k,n] (or C += A·B with `accumulate`).
///
/// BLIS-style blocking: B is packed in KC x NC blocks of NR-wide micro-panels (one stays in
/// L1 while the micro-kernel sweeps an A block), A in MC x KC blocks of MR-high micro-panels
/// (L2). Panels are zero-padded to full tiles and K to the unroll, so the kernel never reads
/// past a buffer; edge tiles of C are written element by element. Not thread-safe: use one
/// instance per thread (packing buffers are per instance).
public final class Gemm: @unchecked Sendable {
    public typealias Kernel = @convention(c) (Int64, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
                                              Int64, Int64, Int64, Int64) -> Void
    public let target: HostTarget
    public let tile: GemmTile
    public let kc: Int, mc: Int, nc: Int
    let code: CompiledCode
    /// One micro-kernel per compiled tile height (MR -> kernel).
    let kernels: [Int: Kernel]
    private var packA: UnsafeMutablePointer<Float>
    private var packB: UnsafeMutablePointer<Float>
    /// LLVM IR and assembly of the micro-kernel, for `kiln dump --emit llvm|asm`.
    public let llvmIR: String
    public let assembly: String

    public init(target: HostTarget = .host, jit: JIT? = nil) throws {
        self.target = target
        tile = GemmTile.forTarget(target)
        kc = 256
        mc = tile.mr * 12
        nc = 3072
        let module = try Module(name: "kiln_gemm", target: target)
        for rows in tile.rowVariants { GemmMicroKernel.emit(into: module, tile: tile.withRows(rows)) }
        try module.verify()
        try module.optimize()
        llvmIR = module.irText
        assembly = String(decoding: try module.emit(assembly: true), as: UTF8.self)
        let jit = try jit ?? JIT(target: target)
        code = try jit.add(module)
        var kernels: [Int: Kernel] = [:]
        for rows in tile.rowVariants {
            kernels[rows] = unsafeBitCast(try code.address(of: GemmMicroKernel.name(tile.withRows(rows))), to: Kernel.self)
        }
        self.kernels = kernels
        packA = Gemm.alignedFloats(mc * kc)
        packB = Gemm.alignedFloats(nc * kc)
    }

    deinit {
        packA.deallocate()
        packB.deallocate()
    }

    static func alignedFloats(_ n: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
    }

    /// C = A·B, or C += A·B when `accumulate`. Leading dimensions are in elements.
    public func sgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        precondition(m >= 0 && n >= 0 && k >= 0 && lda >= k && ldb >= n && ldc >= n, "sgemm: bad sizes")
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let (mr, nr, u) = (rowsFor(m), tile.nr, tile.unroll)
        let kernel = kernels[mr]!
        let mc = self.mc / mr * mr
        for jc in stride(from: 0, to: n, by: nc) {
            let nb = min(nc, n - jc)
            for pc in stride(from: 0, to: k, by: kc) {
                let kb = min(kc, k - pc)
                let kPadded = (kb + u - 1) / u * u
                packPanels(b + pc * ldb + jc, ld: ldb, rows: kb, cols: nb, width: nr, kPadded: kPadded, into: packB, transposed: false)
                let acc: Int64 = (accumulate || pc > 0) ? 1 : 0
                for ic in stride(from: 0, to: m, by: mc) {
                    let mb = min(mc, m - ic)
                    packPanels(a + ic * lda + pc, ld: lda, rows: mb, cols: kb, width: mr, kPadded: kPadded, into: packA, transposed: true)
                    for jr in stride(from: 0, to: nb, by: nr) {
                        let bp = packB + (jr / nr) * nr * kPadded
                        for ir in stride(from: 0, to: mb, by: mr) {
                            kernel(Int64(kPadded / u), packA + (ir / mr) * mr * kPadded, bp, c + (ic + ir) * ldc + jc + jr,
                                   Int64(ldc), Int64(min(mr, mb - ir)), Int64(min(nr, nb - jr)), acc)
                        }
                    }
                }
            }
        }
    }

    /// The compiled tile height that pads M least (ties go to the taller, faster tile).
    func rowsFor(_ m: Int) -> Int {
        tile.rowVariants.min { a, b in
            let wa = (m + a - 1) / a * a - m, wb = (m + b - 1) / b * b - m
            return wa != wb ? wa < wb : a > b
        }!
    }

    /// Packs a block into `width`-wide micro-panels laid out [panel][k][width], zero-padded.
    /// B (not transposed): rows are k, cols are n. A (transposed): rows are m, cols are k.
    private func packPanels(_ src: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int, width: Int, kPadded: Int,
                            into dst: UnsafeMutablePointer<Float>, transposed: Bool) {
        let span = transposed ? rows : cols         // the dimension split into panels
        let kLen = transposed ? cols : rows
        var out = dst
        for p0 in stride(from: 0, to: span, by: width) {
            let w = min(width, span - p0)
            if transposed {
                // Read each row of A sequentially; write it as a column of the panel (stays in L1).
                if w < width || kLen < kPadded { out.update(repeating: 0, count: width * kPadded) }
                for r in 0..<w {
                    let row = src + (p0 + r) * ld
                    var o = out + r
                    for kk in 0..<kLen {
                        o.pointee = row[kk]
                        o += width
                    }
                }
            } else {
                for kk in 0..<kPadded {
                    let o = out + kk * width
                    if kk >= kLen {
                        o.update(repeating: 0, count: width)
                    } else {
                        o.update(from: src + kk * ld + p0, count: w)
                        if w < width { (o + w).update(repeating: 0, count: width - w) }
                    }
                }
            }
            out += width * kPadded
        }
    }
}
