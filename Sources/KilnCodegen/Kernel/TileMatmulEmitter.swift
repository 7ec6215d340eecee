internal import CLLVM

/// Emits `TileMatmul` statements: a driver loop at the call site over NR-wide column panels
/// and MR-high row tiles, calling register-blocked row kernels emitted once per module.
///
/// Unlike `Gemm`, nothing is packed: a fused kernel multiplies tiles that were just written
/// and are still in L1/L2, so A is read in place with broadcast loads (any strides) and B
/// rows are read as vectors. Column edges use masked loads and stores, so the kernel never
/// touches memory outside the tile. Constant strides are baked into the row kernels, which
/// turns every address into base + displacement.
final class TileMatmulEmitter {
    let m: Module
    let tile: GemmTile
    private var rowKernels: [String: LLVMValueRef] = [:]

    init(m: Module) {
        self.m = m
        tile = GemmTile.forTarget(m.target)
    }

    /// K per block: 128 x 32 floats of B (16 KiB) leave half of a 32 KiB L1 for A and C.
    var kBlock: Int { 128 }

    /// Row-tile heights: the register-filling one, then powers of two for the remainder.
    var heights: [Int] { [tile.mr] + [8, 4, 2, 1].filter { $0 < tile.mr } }

    /// Strides known when the kernel is built (nil = passed at run time).
    struct Strides: Hashable {
        var aRow: Int?, aCol: Int?, ldb: Int?, ldc: Int?
        var key: String { [aRow, aCol, ldb, ldc].map { $0.map(String.init) ?? "x" }.joined(separator: "_") }
    }

    /// A `TileEpilogue` at the call site: pointers to column 0 of its scale and shift.
    struct Epilogue {
        var scale: LLVMValueRef?, shift: LLVMValueRef?
        var activation: MathFn?
        /// What the row kernel compiles in (the pointers are its arguments).
        var shape: Shape { Shape(scale: scale != nil, shift: shift != nil, activation: activation) }
        struct Shape: Hashable {
            var scale: Bool, shift: Bool, activation: MathFn?
            var key: String { "_e" + (scale ? "s" : "") + (shift ? "t" : "") + (activation?.rawValue ?? "") }
        }
    }

    /// Emits the driver at the builder's position. Values are i64 and float pointers.
    func emitCall(fn: LLVMValueRef, mCount: LLVMValueRef, n: LLVMValueRef, k: LLVMValueRef,
                  a: LLVMValueRef, aRow: LLVMValueRef, aCol: LLVMValueRef, b: LLVMValueRef, ldb: LLVMValueRef,
                  c: LLVMValueRef, ldc: LLVMValueRef, strides: Strides, accumulate: Bool, bPanelStride: LLVMValueRef? = nil,
                  epilogue: Epilogue? = nil) {
        let bld = m.builder
        let nr = tile.nr
        let kernels = heights.map { rowKernel(rows: $0, strides: strides, accumulate: accumulate) }
        let accumulating = accumulate ? kernels : heights.map { rowKernel(rows: $0, strides: strides, accumulate: true) }
        let shape = epilogue?.shape
        let finishing = heights.map { rowKernel(rows: $0, strides: strides, accumulate: accumulate, epilogue: shape) }
        let finishingAccumulated = heights.map { rowKernel(rows: $0, strides: strides, accumulate: true, epilogue: shape) }
        // for j0 in stride(0, n, NR)
        let pre = LLVMGetInsertBlock(bld)!
        let jHead = m.block(fn, "mm.j"), jBody = m.block(fn, "mm.jbody"), jExit = m.block(fn, "mm.jexit")
        LLVMBuildBr(bld, jHead)
        m.position(at: jHead)
        let j0 = LLVMBuildPhi(bld, m.i64, "j0")!
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, j0, n, "")!, jBody, jExit)
        m.position(at: jBody)
        let left = LLVMBuildSub(bld, n, j0, "")!
        let nValid = LLVMBuildSelect(bld, LLVMBuildICmp(bld, LLVMIntSLT, left, m.int(nr), "")!, left, m.int(nr), "")!
        // Packed B: panel j0 / 32, column j0 % 32 inside it (AVX2's 16-wide tiles split a panel).
        let panel = TileMatmul.panelWidth
        let bj = bPanelStride.map { ps in
            m.gep(b, LLVMBuildAdd(bld, LLVMBuildMul(bld, LLVMBuildSDiv(bld, j0, m.int(panel), "")!, ps, "")!,
                                  LLVMBuildSRem(bld, j0, m.int(panel), "")!, "")!)
        } ?? m.gep(b, j0)
        let cj = m.gep(c, j0)
        // K in blocks of `kBlock`: a panel's block of B (kBlock x 32 floats) stays in L1 while
        // every row tile of A passes over it. The first block writes C (or adds, when the
        // statement accumulates); later blocks add; the last one applies the epilogue.
        let nullPointer = LLVMConstNull(m.pointer(m.f32))!
        let offset = { (p: LLVMValueRef?) in p.map { self.m.gep($0, j0) } ?? nullPointer }
        let (scale, shift) = (offset(epilogue?.scale), offset(epilogue?.shift))
        let tiles = { (kernels: [(LLVMValueRef, LLVMTypeRef)], k0: LLVMValueRef?, len: LLVMValueRef) in
            self.emitRowTiles(fn: fn, kernels: kernels, mCount: mCount, k: len,
                              a: k0.map { self.m.gep(a, LLVMBuildMul(bld, $0, aCol, "")!) } ?? a, aRow: aRow, aCol: aCol,
                              b: k0.map { self.m.gep(bj, LLVMBuildMul(bld, $0, ldb, "")!) } ?? bj, ldb: ldb,
                              c: cj, ldc: ldc, nValid: nValid, scale: scale, shift: shift)
        }
        let single = m.block(fn, "mm.single"), blocked = m.block(fn, "mm.blocked"), joined = m.block(fn, "mm.joined")
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLE, k, m.int(kBlock), "")!, single, blocked)
        m.position(at: single)
        tiles(finishing, nil, k)
        LLVMBuildBr(bld, joined)
        m.position(at: blocked)
        tiles(kernels, nil, m.int(kBlock))
        let kPre = LLVMGetInsertBlock(bld)!
        let kHead = m.block(fn, "mm.k"), kBody = m.block(fn, "mm.kbody"), kExit = m.block(fn, "mm.kexit")
        LLVMBuildBr(bld, kHead)
        m.position(at: kHead)
        let k0 = LLVMBuildPhi(bld, m.i64, "k0")!
        // Middle blocks while another full block follows.
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, LLVMBuildAdd(bld, k0, m.int(kBlock), "")!, k, "")!, kBody, kExit)
        m.position(at: kBody)
        tiles(accumulating, k0, m.int(kBlock))
        let kNext = LLVMBuildAdd(bld, k0, m.int(kBlock), "")!
        let kEnd = LLVMGetInsertBlock(bld)!
        LLVMBuildBr(bld, kHead)
        var kv: [LLVMValueRef?] = [m.int(kBlock), kNext], kb: [LLVMBasicBlockRef?] = [kPre, kEnd]
        LLVMAddIncoming(k0, &kv, &kb, 2)
        m.position(at: kExit)
        tiles(finishingAccumulated, k0, LLVMBuildSub(bld, k, k0, "")!)
        LLVMBuildBr(bld, joined)
        m.position(at: joined)
        let jNext = LLVMBuildAdd(bld, j0, m.int(nr), "")!
        let jEnd = LLVMGetInsertBlock(bld)!
        LLVMBuildBr(bld, jHead)
        var jv: [LLVMValueRef?] = [m.int(0), jNext], jb: [LLVMBasicBlockRef?] = [pre, jEnd]
        LLVMAddIncoming(j0, &jv, &jb, 2)
        m.position(at: jExit)
    }

    /// Row tiles over all of M for one column panel and one block of K: as many full MR tiles
    /// as fit, then one of each smaller height that fits.
    private func emitRowTiles(fn: LLVMValueRef, kernels: [(LLVMValueRef, LLVMTypeRef)], mCount: LLVMValueRef, k: LLVMValueRef,
                              a: LLVMValueRef, aRow: LLVMValueRef, aCol: LLVMValueRef, b: LLVMValueRef, ldb: LLVMValueRef,
                              c: LLVMValueRef, ldc: LLVMValueRef, nValid: LLVMValueRef, scale: LLVMValueRef, shift: LLVMValueRef) {
        let bld = m.builder
        var i0 = m.int(0)
        for (index, rows) in heights.enumerated() {
            let call = { (i: LLVMValueRef) in
                let aPtr = self.m.gep(a, LLVMBuildMul(bld, i, aRow, "")!)
                let cPtr = self.m.gep(c, LLVMBuildMul(bld, i, ldc, "")!)
                _ = self.m.call(kernels[index], [k, aPtr, aRow, aCol, b, ldb, cPtr, ldc, nValid, scale, shift])
                return LLVMBuildAdd(bld, i, self.m.int(rows), "")!
            }
            let fits = { (at: LLVMValueRef) in
                LLVMBuildICmp(bld, LLVMIntSLE, LLVMBuildAdd(bld, at, self.m.int(rows), "")!, mCount, "")!
            }
            let from = LLVMGetInsertBlock(bld)!
            let body = m.block(fn, "mm.i\(rows)"), done = m.block(fn, "mm.i\(rows)done")
            if index == 0 {
                // The tallest tile repeats while it fits.
                let head = m.block(fn, "mm.head")
                LLVMBuildBr(bld, head)
                m.position(at: head)
                let i = LLVMBuildPhi(bld, m.i64, "i")!
                LLVMBuildCondBr(bld, fits(i), body, done)
                m.position(at: body)
                let next = call(i)
                let bodyEnd = LLVMGetInsertBlock(bld)!
                LLVMBuildBr(bld, head)
                var iv: [LLVMValueRef?] = [i0, next], ib: [LLVMBasicBlockRef?] = [from, bodyEnd]
                LLVMAddIncoming(i, &iv, &ib, 2)
                m.position(at: done)
                i0 = i
            } else {
                // Each smaller height runs at most once (the remainder is below the previous height).
                LLVMBuildCondBr(bld, fits(i0), body, done)
                m.position(at: body)
                let next = call(i0)
                let bodyEnd = LLVMGetInsertBlock(bld)!
                LLVMBuildBr(bld, done)
                m.position(at: done)
                let merged = LLVMBuildPhi(bld, m.i64, "i")!
                var mv: [LLVMValueRef?] = [i0, next], mb: [LLVMBasicBlockRef?] = [from, bodyEnd]
                LLVMAddIncoming(merged, &mv, &mb, 2)
                i0 = merged
            }
        }
    }

    /// `void kiln_mm_<rows>x<NR>_<strides>(k, a, aRow, aCol, b, ldb, c, ldc, nValid)`:
    /// C[0..<rows, 0..<nValid] (+)= A[rows x k] B[k x nValid].
    private func rowKernel(rows: Int, strides: Strides, accumulate: Bool, epilogue: Epilogue.Shape? = nil) -> (LLVMValueRef, LLVMTypeRef) {
        let name = "kiln_mm_\(rows)x\(tile.nr)_\(strides.key)\(accumulate ? "_acc" : "")\(epilogue?.key ?? "")"
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
        let w = tile.width, nv = tile.nr / w
        let vec = m.vector(w)
        let fma = m.intrinsic("llvm.fmuladd", vec)
        let loadFn = m.intrinsic("llvm.masked.load", [vec, m.pointer(vec)])
        let storeFn = m.intrinsic("llvm.masked.store", [vec, m.pointer(vec)])
        let entry = m.block(fn, "entry"), loop = m.block(fn, "k"), store = m.block(fn, "store")
        m.position(at: entry)
        // mask[v] lane l: v*W + l < nValid
        let nSplat = m.splat(LLVMBuildTrunc(bld, nValid, m.i32, "")!, w, elementType: m.i32)
        let masks: [LLVMValueRef] = (0..<nv).map { v in
            var lanes: [LLVMValueRef?] = (0..<w).map { LLVMConstInt(m.i32, UInt64(v * w + $0), 0) }
            let laneVec = lanes.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(w))! }
            return LLVMBuildICmp(bld, LLVMIntSLT, laneVec, nSplat, "mask")!
        }
        let zero = LLVMConstNull(vec)!
        let align = LLVMConstInt(m.i32, 4, 0)!
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSGT, k, m.int(0), "")!, loop, store)

        m.position(at: loop)
        let p = LLVMBuildPhi(bld, m.i64, "p")!
        let phis = (0..<(rows * nv)).map { _ in LLVMBuildPhi(bld, vec, "acc")! }
        var acc = phis
        let bRow = m.gep(b, LLVMBuildMul(bld, p, ldb, "")!)
        let bv = (0..<nv).map { v in
            m.call(loadFn, [m.vectorPointer(m.gep(bRow, m.int(v * w)), w), align, masks[v], zero])
        }
        let aCol0 = m.gep(a, LLVMBuildMul(bld, p, aCol, "")!)
        for r in 0..<rows {
            let av = m.splat(m.load(m.f32, m.gep(aCol0, LLVMBuildMul(bld, m.int(r), aRow, "")!)), w)
            for v in 0..<nv { acc[r * nv + v] = m.call(fma, [av, bv[v], acc[r * nv + v]]) }
        }
        let next = LLVMBuildAdd(bld, p, m.int(1), "")!
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, next, k, "")!, loop, store)
        var pv: [LLVMValueRef?] = [m.int(0), next], pb: [LLVMBasicBlockRef?] = [entry, loop]
        LLVMAddIncoming(p, &pv, &pb, 2)
        for (phi, value) in zip(phis, acc) {
            var vals: [LLVMValueRef?] = [zero, value]
            LLVMAddIncoming(phi, &vals, &pb, 2)
        }

        m.position(at: store)
        let results = acc.map { value -> LLVMValueRef in
            let phi = LLVMBuildPhi(bld, vec, "sum")!
            var vals: [LLVMValueRef?] = [zero, value]
            LLVMAddIncoming(phi, &vals, &pb, 2)
            return phi
        }
        // The epilogue's per-column vectors, loaded once per call.
        let columns = { (i: Int) -> [LLVMValueRef] in
            (0..<nv).map { v in self.m.call(loadFn, [self.m.vectorPointer(self.m.gep(arg(i), self.m.int(v * w)), w), align, masks[v], zero]) }
        }
        let scales = epilogue?.scale == true ? columns(9) : nil
        let shifts = epilogue?.shift == true ? columns(10) : nil
        let math = VectorMath(m: m, width: w)
        for r in 0..<rows {
            let cRow = m.gep(c, LLVMBuildMul(bld, m.int(r), ldc, "")!)
            for v in 0..<nv {
                let result = results[r * nv + v]
                let ptr = m.vectorPointer(m.gep(cRow, m.int(v * w)), w)
                var value: LLVMValueRef = result
                if accumulate {
                    value = LLVMBuildFAdd(bld, m.call(loadFn, [ptr, align, masks[v], zero]), result, "")!
                }
                if let scales { value = LLVMBuildFMul(bld, value, scales[v], "")! }
                if let shifts { value = LLVMBuildFAdd(bld, value, shifts[v], "")! }
                if let f = epilogue?.activation { value = math.apply(f, value) }
                _ = m.call(storeFn, [value, ptr, align, masks[v]])
            }
        }
        LLVMBuildRetVoid(bld)
        return (fn, type)
    }
}
