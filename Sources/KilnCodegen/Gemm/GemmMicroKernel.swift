internal import CLLVM

/// The register tile of Kiln's GEMM micro-kernel for a target.
public struct GemmTile: Sendable, Hashable {
    /// Rows of C per call (broadcast operands from packed A).
    public let mr: Int
    /// Columns of C per call, a multiple of the vector width (vector loads from packed B).
    public let nr: Int
    /// Floats per vector.
    public let width: Int
    /// K steps per loop iteration; packing pads K to a multiple of this with zeros.
    public let unroll: Int

    /// The same tile with another height (small or awkward M wastes fewer padded rows).
    public func withRows(_ mr: Int) -> GemmTile { GemmTile(mr: mr, nr: nr, width: width, unroll: unroll) }

    /// K per block of the tile kernels: a block of a packed B panel (kBlock x nr floats) takes
    /// 16 KiB, half of a 32 KiB L1d, leaving the rest for A and C. 128 on AVX-512 (32-column
    /// panels), 256 on AVX2 (16 columns). The fused blocks' hidden slices are as deep, so
    /// their exit matmul runs as one block: on a Zen 3, 256 rather than 128 (slice and block)
    /// made the fused FFN 1.3-1.7% faster and left the others within noise.
    public var kBlock: Int { GemmTile.kBlock(nr: nr) }

    /// `kBlock` for tiles (and packed panels) `nr` columns wide.
    public static func kBlock(nr: Int) -> Int { min(256, 4096 / max(nr, 1)) }

    /// Heights compiled for this target: the register-filling one and a power of two.
    public var rowVariants: [Int] { width == 16 ? [14, 8] : [mr, 4] }

    /// 14 x 32 on AVX-512 (28 zmm accumulators + 2 B vectors + 1 broadcast = 31 of 32 registers),
    /// 6 x 16 on AVX2 (12 + 2 + 1 = 15 of 16 ymm).
    public static func forTarget(_ t: HostTarget) -> GemmTile {
        switch t.vectorWidth {
        case 16: return GemmTile(mr: 14, nr: 32, width: 16, unroll: 4)
        case 8: return GemmTile(mr: 6, nr: 16, width: 8, unroll: 4)
        default: return GemmTile(mr: 4, nr: 8, width: 4, unroll: 4)
        }
    }
}

/// Emits `kiln_gemm_ukernel_<MR>x<NR>(kcGroups, A, B, C, ldc, mValid, nValid, accumulate)`:
/// C[0..<mValid, 0..<nValid] (+)= Apanel · Bpanel, where Apanel is kc x MR (MR contiguous
/// per k step), Bpanel is kc x NR, and kc = kcGroups * unroll >= unroll. Full tiles store with
/// vector stores; edge tiles go through a stack tile so nothing outside C is touched.
enum GemmMicroKernel {
    static func name(_ t: GemmTile) -> String { "kiln_gemm_ukernel_\(t.mr)x\(t.nr)" }

    static func emit(into m: Module, tile t: GemmTile) {
        let fp = m.pointer(m.f32)
        let fn = m.function(name(t), returns: m.void, [m.i64, fp, fp, fp, m.i64, m.i64, m.i64, m.i64], noalias: [1, 2, 3])
        let (kcg, a, b, c, ldc) = (LLVMGetParam(fn, 0)!, LLVMGetParam(fn, 1)!, LLVMGetParam(fn, 2)!, LLVMGetParam(fn, 3)!, LLVMGetParam(fn, 4)!)
        let (mValid, nValid, accumulate) = (LLVMGetParam(fn, 5)!, LLVMGetParam(fn, 6)!, LLVMGetParam(fn, 7)!)
        let vec = m.vector(t.width), nv = t.nr / t.width
        let fma = m.intrinsic("llvm.fmuladd", vec)
        let entry = m.block(fn, "entry"), loop = m.block(fn, "kloop"), done = m.block(fn, "store")
        m.position(at: entry)
        let tileBuf = LLVMBuildArrayAlloca(m.builder, m.f32, m.int(t.mr * t.nr), "tile")!
        LLVMSetAlignment(tileBuf, 64)
        LLVMBuildBr(m.builder, loop)

        // K loop: accumulators are loop-carried phis so they live in registers.
        m.position(at: loop)
        let p = LLVMBuildPhi(m.builder, m.i64, "p")!
        let zero = LLVMConstNull(vec)!
        var phis: [LLVMValueRef] = []
        for _ in 0..<(t.mr * nv) { phis.append(LLVMBuildPhi(m.builder, vec, "acc")!) }
        var acc = phis
        let aBase = m.gep(a, LLVMBuildMul(m.builder, p, m.int(t.mr * t.unroll), "")!)
        let bBase = m.gep(b, LLVMBuildMul(m.builder, p, m.int(t.nr * t.unroll), "")!)
        for u in 0..<t.unroll {
            let bv = (0..<nv).map { v in m.load(vec, m.vectorPointer(m.gep(bBase, m.int(u * t.nr + v * t.width)), t.width), align: 64) }
            for r in 0..<t.mr {
                let av = m.splat(m.load(m.f32, m.gep(aBase, m.int(u * t.mr + r))), t.width)
                for v in 0..<nv { acc[r * nv + v] = m.call(fma, [av, bv[v], acc[r * nv + v]]) }
            }
        }
        let next = LLVMBuildAdd(m.builder, p, m.int(1), "")!
        let more = LLVMBuildICmp(m.builder, LLVMIntSLT, next, kcg, "")!
        LLVMBuildCondBr(m.builder, more, loop, done)
        var incomingP: [LLVMValueRef?] = [m.int(0), next]
        var fromBlocks: [LLVMBasicBlockRef?] = [entry, loop]
        LLVMAddIncoming(p, &incomingP, &fromBlocks, 2)
        for (phi, value) in zip(phis, acc) {
            var vals: [LLVMValueRef?] = [zero, value]
            LLVMAddIncoming(phi, &vals, &fromBlocks, 2)
        }

        // Store: full tile with vector ops, else through the stack tile.
        m.position(at: done)
        let full = LLVMBuildAnd(m.builder, LLVMBuildICmp(m.builder, LLVMIntEQ, mValid, m.int(t.mr), "")!,
                                LLVMBuildICmp(m.builder, LLVMIntEQ, nValid, m.int(t.nr), "")!, "")!
        let fullBlock = m.block(fn, "full"), edgeBlock = m.block(fn, "edge"), exit = m.block(fn, "exit")
        LLVMBuildCondBr(m.builder, full, fullBlock, edgeBlock)
        let doAcc = { LLVMBuildICmp(m.builder, LLVMIntNE, accumulate, m.int(0), "")! }

        m.position(at: fullBlock)
        let accFlag = doAcc()
        for r in 0..<t.mr {
            let row = m.gep(c, LLVMBuildMul(m.builder, m.int(r), ldc, "")!)
            for v in 0..<nv {
                let ptr = m.vectorPointer(m.gep(row, m.int(v * t.width)), t.width)
                let old = m.load(vec, ptr)
                let sum = LLVMBuildFAdd(m.builder, old, acc[r * nv + v], "")!
                m.store(LLVMBuildSelect(m.builder, accFlag, sum, acc[r * nv + v], "")!, ptr)
            }
        }
        LLVMBuildBr(m.builder, exit)

        m.position(at: edgeBlock)
        for r in 0..<t.mr {
            for v in 0..<nv {
                m.store(acc[r * nv + v], m.vectorPointer(m.gep(tileBuf, m.int(r * t.nr + v * t.width)), t.width), align: 64)
            }
        }
        emitEdgeCopy(m, fn, tileBuf, c, ldc, mValid, nValid, doAcc(), tile: t, exit: exit)
        m.position(at: exit)
        LLVMBuildRetVoid(m.builder)
    }

    /// for i < mValid, j < nValid: C[i*ldc + j] (+)= tile[i*NR + j]
    private static func emitEdgeCopy(_ m: Module, _ fn: LLVMValueRef, _ tile: LLVMValueRef, _ c: LLVMValueRef, _ ldc: LLVMValueRef,
                                     _ mValid: LLVMValueRef, _ nValid: LLVMValueRef, _ accFlag: LLVMValueRef, tile t: GemmTile, exit: LLVMBasicBlockRef) {
        let pre = LLVMGetInsertBlock(m.builder)!
        let rowHead = m.block(fn, "edge.row"), colHead = m.block(fn, "edge.col"), rowNext = m.block(fn, "edge.rownext")
        LLVMBuildBr(m.builder, rowHead)
        m.position(at: rowHead)
        let i = LLVMBuildPhi(m.builder, m.i64, "i")!
        LLVMBuildBr(m.builder, colHead)
        m.position(at: colHead)
        let j = LLVMBuildPhi(m.builder, m.i64, "j")!
        let src = m.load(m.f32, m.gep(tile, LLVMBuildAdd(m.builder, LLVMBuildMul(m.builder, i, m.int(t.nr), "")!, j, "")!))
        let dstPtr = m.gep(c, LLVMBuildAdd(m.builder, LLVMBuildMul(m.builder, i, ldc, "")!, j, "")!)
        let old = m.load(m.f32, dstPtr)
        m.store(LLVMBuildSelect(m.builder, accFlag, LLVMBuildFAdd(m.builder, old, src, "")!, src, "")!, dstPtr)
        let jNext = LLVMBuildAdd(m.builder, j, m.int(1), "")!
        LLVMBuildCondBr(m.builder, LLVMBuildICmp(m.builder, LLVMIntSLT, jNext, nValid, "")!, colHead, rowNext)
        m.position(at: rowNext)
        let iNext = LLVMBuildAdd(m.builder, i, m.int(1), "")!
        LLVMBuildCondBr(m.builder, LLVMBuildICmp(m.builder, LLVMIntSLT, iNext, mValid, "")!, rowHead, exit)
        var iv: [LLVMValueRef?] = [m.int(0), iNext], ib: [LLVMBasicBlockRef?] = [pre, rowNext]
        LLVMAddIncoming(i, &iv, &ib, 2)
        var jv: [LLVMValueRef?] = [m.int(0), jNext], jb: [LLVMBasicBlockRef?] = [rowHead, colHead]
        LLVMAddIncoming(j, &jv, &jb, 2)
    }
}
