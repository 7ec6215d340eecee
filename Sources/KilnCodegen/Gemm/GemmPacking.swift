internal import CLLVM

/// Emits the A-packing routine for one micro-panel height `h` (h <= vector width):
///
///     void kiln_sgemm_packa_<h>(float* src, i64 lda, i64 kChunks, float* dst)
///
/// For kk in 0..<kChunks*W it writes dst[kk*h + r] = src[r*lda + kk] for r < h (W = vector width):
/// W-wide loads from each of the h rows, an in-register W x W transpose (log2 W butterfly stages
/// of two-input shuffles; rows h..<W are zeros), and one h-lane (masked) store per k. Only the
/// h rows and kChunks*W columns are read; only h*kChunks*W floats of dst are written.
enum GemmPacking {
    static func packAName(_ h: Int) -> String { "kiln_sgemm_packa_\(h)" }

    @discardableResult
    static func emitPackA(into m: Module, height h: Int, width w: Int) -> LLVMValueRef {
        precondition(h <= w && w & (w - 1) == 0)
        let fp = m.pointer(m.f32)
        let fn = m.function(packAName(h), returns: m.void, [fp, m.i64, m.i64, fp], noalias: [0, 3])
        m.addEnumAttribute(fn, "nounwind")
        let (src, lda, chunks, dst) = (LLVMGetParam(fn, 0)!, LLVMGetParam(fn, 1)!, LLVMGetParam(fn, 2)!, LLVMGetParam(fn, 3)!)
        let vec = m.vector(w)
        let entry = m.block(fn, "entry"), loop = m.block(fn, "loop"), exit = m.block(fn, "exit")
        m.position(at: entry)
        let rowPtrs = (0..<h).map { r in m.gep(src, m.mul(m.int(r), lda)) }
        LLVMBuildCondBr(m.builder, m.icmp(LLVMIntSGT, chunks, m.int(0)), loop, exit)

        m.position(at: loop)
        let i = m.phi(m.i64, "chunk")
        let col = m.mul(i, m.int(w))
        var rows: [LLVMValueRef] = (0..<w).map { r in
            r < h ? m.load(vec, m.vectorPointer(m.gep(rowPtrs[r], col), w)) : LLVMConstNull(vec)!
        }
        // Butterfly: at bit s, rows i and i+s exchange their off-diagonal s-blocks.
        var s = 1
        while s < w {
            var next = rows
            for r in 0..<w where r & s == 0 {
                let lo = (0..<w).map { c in c & s == 0 ? c : w + c - s }
                let hi = (0..<w).map { c in c & s == 0 ? c + s : w + c }
                next[r] = shuffle(m, rows[r], rows[r + s], lo)
                next[r + s] = shuffle(m, rows[r], rows[r + s], hi)
            }
            rows = next
            s *= 2
        }
        // rows[c] now holds column c: A[0..<W, col + c]; store its first h lanes.
        let outBase = m.gep(dst, m.mul(col, m.int(h)))
        if h == w {
            for c in 0..<w { m.store(rows[c], m.vectorPointer(m.gep(outBase, m.int(c * h)), w)) }
        } else {
            let maskedStore = m.intrinsic("llvm.masked.store", [vec, m.pointer(vec)])
            var bits: [LLVMValueRef?] = (0..<w).map { LLVMConstInt(m.i1, $0 < h ? 1 : 0, 0) }
            let mask = bits.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(w))! }
            for c in 0..<w {
                m.call(maskedStore, [rows[c], m.vectorPointer(m.gep(outBase, m.int(c * h)), w), m.int32(4), mask])
            }
        }
        let iNext = m.add(i, m.int(1))
        LLVMBuildCondBr(m.builder, m.icmp(LLVMIntSLT, iNext, chunks), loop, exit)
        m.incoming(i, [(m.int(0), entry), (iNext, loop)])
        m.position(at: exit)
        LLVMBuildRetVoid(m.builder)
        return fn
    }

    private static func shuffle(_ m: Module, _ a: LLVMValueRef, _ b: LLVMValueRef, _ mask: [Int]) -> LLVMValueRef {
        var idx: [LLVMValueRef?] = mask.map { m.int32($0) }
        let maskValue = idx.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(mask.count))! }
        return LLVMBuildShuffleVector(m.builder, a, b, maskValue, "")!
    }
}
