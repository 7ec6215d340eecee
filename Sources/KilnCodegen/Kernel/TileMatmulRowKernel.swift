internal import CLLVM

/// The register-blocked row kernels behind `TileMatmul`, one LLVM function per shape.
extension TileMatmulEmitter {
    /// Lanes of each vector of a row kernel's column tile. Full tiles are `nr / width` vectors of
    /// `width` lanes; a ragged last panel whose column count is known when the kernel is built
    /// uses only the vectors it needs, the last one half wide when that suffices (24 columns:
    /// 16 + 8 lanes). Masked lanes still cost a whole FMA, and on a CPU that splits 512-bit
    /// instructions into two 256-bit halves (Zen 4) a half-width vector costs half.
    func vectorWidths(columns r: Int) -> [Int] {
        let w = tile.width
        let full = Array(repeating: w, count: min(r, tile.nr) / w)
        let rest = min(r, tile.nr) % w
        if rest == 0 { return full }
        return full + [rest <= w / 2 ? w / 2 : w]
    }

    /// `void kiln_mm_<rows>x<NR>_<strides>(k, a, aRow, aCol, b, ldb, c, ldc, nValid, scale, shift)`:
    /// C[0..<rows, 0..<nValid] (+)= A[rows x k] B[k x nValid], then the epilogue if any.
    func rowKernel(rows: Int, strides: Strides, accumulate: Bool, epilogue: Epilogue.Shape? = nil,
                   widths given: [Int]? = nil) -> (LLVMValueRef, LLVMTypeRef) {
        let widths = given ?? Array(repeating: tile.width, count: tile.nr / tile.width)
        let shapeKey = given.map { "_w" + $0.map(String.init).joined(separator: "-") } ?? ""
        let name = "kiln_mm_\(rows)x\(tile.nr)_\(strides.key)\(accumulate ? "_acc" : "")\(epilogue?.key ?? "")\(shapeKey)"
        let fp = m.pointer(m.f32)
        let params = [m.i64, fp, m.i64, m.i64, fp, m.i64, fp, m.i64, m.i64, fp, fp]
        var ps: [LLVMTypeRef?] = params
        let type = ps.withUnsafeMutableBufferPointer { LLVMFunctionType(m.void, $0.baseAddress, UInt32(params.count), 0)! }
        if let fn = rowKernels[name] { return (fn, type) }
        let saved = LLVMGetInsertBlock(m.builder)
        defer { if let saved { m.position(at: saved) } }
        let fn = m.function(name, returns: m.void, params, noalias: [1, 4, 6, 9, 10])
        LLVMSetLinkage(fn, LLVMInternalLinkage)
        rowKernels[name] = fn
        let bld = m.builder
        let arg = { (i: Int) in LLVMGetParam(fn, UInt32(i))! }
        let k = arg(0), a = arg(1), b = arg(4), c = arg(6), nValid = arg(8)
        let aRow = strides.aRow.map(m.int) ?? arg(2), aCol = strides.aCol.map(m.int) ?? arg(3)
        let ldb = strides.ldb.map(m.int) ?? arg(5), ldc = strides.ldc.map(m.int) ?? arg(7)
        let nv = widths.count
        let offsets = widths.indices.map { widths[..<$0].reduce(0, +) }
        let vecs = widths.map { m.vector($0) }
        let fmas = vecs.map { m.intrinsic("llvm.fmuladd", $0) }
        let loads = vecs.map { m.intrinsic("llvm.masked.load", [$0, m.pointer($0)]) }
        let stores = vecs.map { m.intrinsic("llvm.masked.store", [$0, m.pointer($0)]) }
        let zeros = vecs.map { LLVMConstNull($0)! }
        let entry = m.block(fn, "entry"), loop = m.block(fn, "k"), store = m.block(fn, "store")
        m.position(at: entry)
        // mask[v] lane l: offset[v] + l < nValid
        let masks: [LLVMValueRef] = (0..<nv).map { v in
            let nSplat = m.splat(LLVMBuildTrunc(bld, nValid, m.i32, "")!, widths[v], elementType: m.i32)
            var lanes: [LLVMValueRef?] = (0..<widths[v]).map { LLVMConstInt(m.i32, UInt64(offsets[v] + $0), 0) }
            let laneVec = lanes.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(widths[v]))! }
            return LLVMBuildICmp(bld, LLVMIntSLT, laneVec, nSplat, "mask")!
        }
        let align = LLVMConstInt(m.i32, 4, 0)!
        let vectorAt = { (p: LLVMValueRef, v: Int) in self.m.vectorPointer(self.m.gep(p, self.m.int(offsets[v])), widths[v]) }
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSGT, k, m.int(0), "")!, loop, store)

        m.position(at: loop)
        let p = LLVMBuildPhi(bld, m.i64, "p")!
        let phis = (0..<(rows * nv)).map { LLVMBuildPhi(bld, vecs[$0 % nv], "acc")! }
        var acc = phis
        let bRow = m.gep(b, LLVMBuildMul(bld, p, ldb, "")!)
        let bv = (0..<nv).map { v in m.call(loads[v], [vectorAt(bRow, v), align, masks[v], zeros[v]]) }
        let aCol0 = m.gep(a, LLVMBuildMul(bld, p, aCol, "")!)
        for r in 0..<rows {
            let element = m.gep(aCol0, LLVMBuildMul(bld, m.int(r), aRow, "")!)
            let scalar = m.load(m.f32, element)
            var splats: [Int: LLVMValueRef] = [:]
            for v in 0..<nv {
                // A second, narrower width (N = 24 = 16 + 8: MobileNetV2's projection) broadcasts
                // its own load of the element: given one load, x86 broadcasts it from memory into
                // ymm and then register to zmm, a shuffle uop per row and step beside the FMAs
                // (−10% on that block's fused kernel). The load is volatile so LLVM keeps it
                // separate instead of merging the two back into one.
                let av = splats[widths[v]] ?? m.splat(splats.isEmpty ? scalar : {
                    let again = m.load(m.f32, element)
                    LLVMSetVolatile(again, 1)
                    return again
                }(), widths[v])
                splats[widths[v]] = av
                acc[r * nv + v] = m.call(fmas[v], [av, bv[v], acc[r * nv + v]])
            }
        }
        let next = LLVMBuildAdd(bld, p, m.int(1), "")!
        let latch = LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, next, k, "")!, loop, store)!
        LoopHints.unroll(latch, count: LoopHints.rowKernelUnroll, context: m.context)
        var pv: [LLVMValueRef?] = [m.int(0), next], pb: [LLVMBasicBlockRef?] = [entry, loop]
        LLVMAddIncoming(p, &pv, &pb, 2)
        for (i, (phi, value)) in zip(phis, acc).enumerated() {
            var vals: [LLVMValueRef?] = [zeros[i % nv], value]
            LLVMAddIncoming(phi, &vals, &pb, 2)
        }

        m.position(at: store)
        let results = acc.enumerated().map { i, value -> LLVMValueRef in
            let phi = LLVMBuildPhi(bld, vecs[i % nv], "sum")!
            var vals: [LLVMValueRef?] = [zeros[i % nv], value]
            LLVMAddIncoming(phi, &vals, &pb, 2)
            return phi
        }
        // The epilogue's per-column vectors, loaded once per call.
        let columns = { (i: Int) -> [LLVMValueRef] in
            (0..<nv).map { v in self.m.call(loads[v], [vectorAt(arg(i), v), align, masks[v], zeros[v]]) }
        }
        let scales = epilogue?.scale == true ? columns(9) : nil
        let shifts = epilogue?.shift == true ? columns(10) : nil
        for r in 0..<rows {
            let cRow = m.gep(c, LLVMBuildMul(bld, m.int(r), ldc, "")!)
            for v in 0..<nv {
                let ptr = vectorAt(cRow, v)
                var value = results[r * nv + v]
                if accumulate {
                    value = LLVMBuildFAdd(bld, m.call(loads[v], [ptr, align, masks[v], zeros[v]]), value, "")!
                }
                if let scales { value = LLVMBuildFMul(bld, value, scales[v], "")! }
                if let shifts { value = LLVMBuildFAdd(bld, value, shifts[v], "")! }
                if let f = epilogue?.activation { value = VectorMath(m: m, width: widths[v]).apply(f, value) }
                _ = m.call(stores[v], [value, ptr, align, masks[v]])
            }
        }
        LLVMBuildRetVoid(bld)
        return (fn, type)
    }
}
