internal import CLLVM

/// The register tile of Kiln's GEMM micro-kernel on a target.
///
/// The micro-kernel computes an `mr x nr` block of C from packed panels: `mr` rows are
/// broadcast from packed A, `nr = vectors x width` columns are vector loads from packed B, and
/// the `mr x vectors` accumulators stay in registers for the whole K loop.
public struct GemmTile: Sendable, Hashable, CustomStringConvertible {
    /// Rows of C per call.
    public let mr: Int
    /// SIMD vectors per row (columns of C per call = `vectors * width`).
    public let vectors: Int
    /// Floats per SIMD vector on the target.
    public let width: Int
    /// K steps per loop iteration; packed panels pad K to a multiple of this with zeros.
    public let unroll: Int

    public init(mr: Int, vectors: Int, width: Int, unroll: Int) {
        precondition(mr >= 1 && vectors >= 1 && width >= 1 && unroll >= 1)
        self.mr = mr
        self.vectors = vectors
        self.width = width
        self.unroll = unroll
    }

    /// Columns of C per call.
    public var nr: Int { vectors * width }

    /// The largest tile for the target's register file: accumulators + B vectors + one broadcast
    /// must fit. AVX-512 (32 zmm): 14 x 32 = 28 + 2 + 1 = 31 registers. AVX/AVX2 (16 ymm):
    /// 6 x 16 = 12 + 2 + 1 = 15. SSE (16 xmm): 6 x 8.
    public static func forTarget(_ t: HostTarget) -> GemmTile {
        let registers = t.has("avx512f") ? 32 : 16
        let vectors = 2
        let mr = (registers - vectors - 1) / vectors
        return GemmTile(mr: mr, vectors: vectors, width: t.vectorWidth, unroll: 4)
    }

    /// The same tile with another height (for the last rows of a matrix).
    public func withRows(_ rows: Int) -> GemmTile { GemmTile(mr: rows, vectors: vectors, width: width, unroll: unroll) }

    /// The same tile one vector wide (for the last, narrow column panel).
    public var narrow: GemmTile { GemmTile(mr: mr, vectors: 1, width: width, unroll: unroll) }

    /// Heights compiled for a target: the full tile, then powers of two below it, so any
    /// remainder of M is covered exactly (e.g. 13 = 8 + 4 + 1) with no wasted rows.
    public var heights: [Int] {
        var hs = [mr]
        var h = 8
        while h >= 1 { if h < mr { hs.append(h) }; h /= 2 }
        return hs
    }

    public var description: String { "\(mr)x\(nr) (\(mr)x\(vectors) vectors of \(width) floats, K unrolled \(unroll)x)" }
}

/// Emits Kiln's GEMM micro-kernel as an LLVM function that other generated code can call
/// (or inline):
///
///     void kiln_sgemm_ukernel_<MR>x<NR>[_da](i64 kIters, float* A, i64 lda, float* B, i64 bStride,
///                                           float* C, i64 ldc, i64 mValid, i64 nValid, i64 accumulate)
///
/// C[0..<mValid, 0..<nValid] = (or += when `accumulate != 0`) Apanel · Bpanel, where Apanel
/// holds K x MR floats (the MR values of one k contiguous; `lda` unused) or, for the `_da`
/// variant, is A itself read in place (row-major, leading dimension `lda`; rows past mValid
/// read row 0), and Bpanel is K rows of NR floats,
/// `bStride` floats apart (NR for a packed panel, ldb to read B in place), and
/// K = kIters * unroll >= unroll (packed panels zero-padded). C is row-major with leading dimension
/// `ldc`. Full tiles use plain vector stores; edge tiles store only rows < mValid, with lane
/// masks for columns >= nValid (`llvm.masked.load/store`), so nothing outside the valid block
/// of C is read or written.
enum GemmMicroKernel {
    static func name(_ t: GemmTile, directA: Bool = false) -> String { "kiln_sgemm_ukernel_\(t.mr)x\(t.nr)" + (directA ? "_da" : "") }

    /// `directA`: A is read in place, row-major with leading dimension `lda` (no packing; K must
    /// then be exactly kIters * unroll). Rows at or past mValid read row 0 instead (their
    /// results are never stored), so one full-height kernel serves every remainder of M.
    @discardableResult
    static func emit(into m: Module, tile t: GemmTile, directA: Bool = false) -> LLVMValueRef {
        let fp = m.pointer(m.f32)
        let fn = m.function(name(t, directA: directA), returns: m.void,
                            [m.i64, fp, m.i64, fp, m.i64, fp, m.i64, m.i64, m.i64, m.i64], noalias: [1, 3, 5])
        m.addEnumAttribute(fn, "nounwind")
        let p = (0..<10).map { LLVMGetParam(fn, UInt32($0))! }
        let (kIters, a, lda, b, bStride) = (p[0], p[1], p[2], p[3], p[4])
        let (c, ldc, mValid, nValid, accumulate) = (p[5], p[6], p[7], p[8], p[9])
        let vec = m.vector(t.width), nv = t.vectors
        let fma = m.intrinsic("llvm.fmuladd", [vec])

        let entry = m.block(fn, "entry"), loop = m.block(fn, "kloop"), after = m.block(fn, "after")
        m.position(at: entry)
        // Prefetch the C tile for writing while the K loop runs, one hint per 64 bytes of each
        // row. A hint never faults, but Kiln keeps even hints inside the valid block of C:
        // addresses outside it (rows >= mValid, columns >= nValid) become C[0, 0].
        let prefetch = m.intrinsic("llvm.prefetch", [fp])
        for r in 0..<t.mr {
            let row = m.gep(c, m.mul(m.int(r), ldc))
            for f in stride(from: 0, to: t.nr, by: 16) {
                let inside = LLVMBuildAnd(m.builder, m.icmp(LLVMIntSLT, m.int(r), mValid), m.icmp(LLVMIntSLT, m.int(f), nValid), "")!
                let addr = LLVMBuildSelect(m.builder, inside, m.gep(row, m.int(f)), c, "")!
                m.call(prefetch, [addr, m.int32(1), m.int32(3), m.int32(1)])
            }
        }
        let aRows: [LLVMValueRef] = directA ? (0..<t.mr).map { r in
            r == 0 ? a : LLVMBuildSelect(m.builder, m.icmp(LLVMIntSLT, m.int(r), mValid), m.gep(a, m.mul(m.int(r), lda)), a, "")!
        } : []
        LLVMBuildBr(m.builder, loop)

        // K loop: the accumulators are loop-carried phis, so they live in registers.
        m.position(at: loop)
        let it = m.phi(m.i64, "k")
        let aPtr = m.phi(fp, "a"), bPtr = m.phi(fp, "b")
        let phis = (0..<(t.mr * nv)).map { _ in m.phi(vec, "acc") }
        let kOff = directA ? m.mul(it, m.int(t.unroll)) : m.int(0)  // after the phis
        var acc = phis
        for u in 0..<t.unroll {
            let bRow = u == 0 ? bPtr : m.gep(bPtr, m.mul(m.int(u), bStride))
            let bv = (0..<nv).map { v in m.load(vec, m.vectorPointer(m.gep(bRow, m.int(v * t.width)), t.width)) }
            for r in 0..<t.mr {
                let aElem = directA ? m.gep(aRows[r], m.add(kOff, m.int(u))) : m.gep(aPtr, m.int(u * t.mr + r))
                let av = m.splat(m.load(m.f32, aElem), t.width)
                for v in 0..<nv { acc[r * nv + v] = m.call(fma, [av, bv[v], acc[r * nv + v]]) }
            }
        }
        let aNext = m.gep(aPtr, m.int(t.mr * t.unroll)), bNext = m.gep(bPtr, m.mul(m.int(t.unroll), bStride))
        let itNext = m.add(it, m.int(1))
        LLVMBuildCondBr(m.builder, m.icmp(LLVMIntSLT, itNext, kIters), loop, after)
        m.incoming(it, [(m.int(0), entry), (itNext, loop)])
        m.incoming(aPtr, [(a, entry), (aNext, loop)])
        m.incoming(bPtr, [(b, entry), (bNext, loop)])
        let zero = LLVMConstNull(vec)!
        for (phi, value) in zip(phis, acc) { m.incoming(phi, [(zero, entry), (value, loop)]) }

        // Stores.
        m.position(at: after)
        let isAcc = m.icmp(LLVMIntNE, accumulate, m.int(0))
        let full = LLVMBuildAnd(m.builder, m.icmp(LLVMIntEQ, mValid, m.int(t.mr)), m.icmp(LLVMIntEQ, nValid, m.int(t.nr)), "")!
        let fullBlock = m.block(fn, "full"), fullSet = m.block(fn, "full.set"), fullAdd = m.block(fn, "full.add")
        let edge = m.block(fn, "edge"), exit = m.block(fn, "exit")
        LLVMBuildCondBr(m.builder, full, fullBlock, edge)

        m.position(at: fullBlock)
        LLVMBuildCondBr(m.builder, isAcc, fullAdd, fullSet)
        for adding in [false, true] {
            m.position(at: adding ? fullAdd : fullSet)
            for r in 0..<t.mr {
                let row = m.gep(c, m.mul(m.int(r), ldc))
                for v in 0..<nv {
                    let ptr = m.vectorPointer(m.gep(row, m.int(v * t.width)), t.width)
                    let value = adding ? LLVMBuildFAdd(m.builder, m.load(vec, ptr), acc[r * nv + v], "")! : acc[r * nv + v]
                    m.store(value, ptr)
                }
            }
            LLVMBuildBr(m.builder, exit)
        }

        // Edge tile: lane masks from nValid, one guarded block per row.
        m.position(at: edge)
        let maskedLoad = m.intrinsic("llvm.masked.load", [vec, m.pointer(vec)])
        let maskedStore = m.intrinsic("llvm.masked.store", [vec, m.pointer(vec)])
        let i32vec = m.vector(t.width, of: m.i32)
        var lanes: [LLVMValueRef?] = (0..<t.width).map { m.int32($0) }
        let iota = lanes.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(t.width))! }
        let n32 = LLVMBuildTrunc(m.builder, nValid, m.i32, "")!
        let masks = (0..<nv).map { v -> LLVMValueRef in
            let left = LLVMBuildSub(m.builder, n32, m.int32(v * t.width), "")!
            let leftSplat = LLVMBuildShuffleVector(
                m.builder, LLVMBuildInsertElement(m.builder, LLVMGetUndef(i32vec), left, m.int32(0), "")!,
                LLVMGetUndef(i32vec), LLVMConstNull(i32vec), "")!
            return m.icmp(LLVMIntSLT, iota, leftSplat)
        }
        let align = m.int32(4)
        for r in 0..<t.mr {
            let rowBlock = m.block(fn, "edge.row\(r)"), next = r + 1 < t.mr ? m.block(fn, "edge.test\(r + 1)") : exit
            LLVMBuildCondBr(m.builder, m.icmp(LLVMIntSLT, m.int(r), mValid), rowBlock, exit)
            m.position(at: rowBlock)
            let row = m.gep(c, m.mul(m.int(r), ldc))
            for v in 0..<nv {
                let ptr = m.vectorPointer(m.gep(row, m.int(v * t.width)), t.width)
                let old = m.call(maskedLoad, [ptr, align, masks[v], zero])
                let sum = LLVMBuildFAdd(m.builder, old, acc[r * nv + v], "")!
                let value = LLVMBuildSelect(m.builder, isAcc, sum, acc[r * nv + v], "")!
                m.call(maskedStore, [value, ptr, align, masks[v]])
            }
            LLVMBuildBr(m.builder, next)
            if r + 1 < t.mr { m.position(at: next) }
        }
        m.position(at: exit)
        LLVMBuildRetVoid(m.builder)
        return fn
    }
}
