internal import CLLVM

extension KernelEmitter.Context {
    /// Emits a `TileTranspose`: square blocks of the target's vector width W are loaded as W
    /// row vectors, transposed in registers and stored as W rows; the ragged right and bottom
    /// edges are copied element by element.
    ///
    /// The in-register transpose is log2(W) rounds of the perfect shuffle: each round pairs row
    /// i with row i + W/2 and replaces them by their interleaved low and high halves. After
    /// log2(W) rounds row r holds column r. Every shuffle has two sources, so with AVX-512 each
    /// is one `vpermt2ps`: W·log2(W) shuffles per W² elements (0.25 per element at W = 16).
    mutating func emitTranspose(_ t: TileTranspose, _ env: inout KernelEmitter.Env) throws {
        let w = m.target.vectorWidth
        let vec = m.vector(w)
        let src = m.gep(try buffer(t.src, env), try int(t.srcOffset, env))
        let dst = m.gep(try buffer(t.dst, env), try int(t.dstOffset, env))
        let (srcLd, dstLd) = (try int(t.srcLd, env), try int(t.dstLd, env))
        let blockRows = LLVMBuildSDiv(b, try int(t.rows, env), m.int(w), "")!
        let blockCols = LLVMBuildSDiv(b, try int(t.cols, env), m.int(w), "")!
        let rounds = w.trailingZeroBitCount
        let masks = [(0..<w).map { i in (i / 2) + (i % 2) * w }, (0..<w).map { i in w / 2 + (i / 2) + (i % 2) * w }].map { lanes -> LLVMValueRef in
            var consts: [LLVMValueRef?] = lanes.map { m.int32(Int32($0)) }
            return consts.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(w))! }
        }
        countedLoop("transpose.rb", blockRows) { rb in
            let r0 = LLVMBuildMul(b, rb, m.int(w), "")!
            countedLoop("transpose.cb", blockCols) { cb in
                let c0 = LLVMBuildMul(b, cb, m.int(w), "")!
                var rows: [LLVMValueRef] = (0..<w).map { i in
                    let at = LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAdd(b, r0, m.int(i), "")!, srcLd, "")!, c0, "")!
                    return m.load(vec, m.vectorPointer(m.gep(src, at), w))
                }
                for _ in 0..<rounds {
                    var next: [LLVMValueRef] = []
                    for i in 0..<(w / 2) {
                        next.append(LLVMBuildShuffleVector(b, rows[i], rows[i + w / 2], masks[0], "")!)
                        next.append(LLVMBuildShuffleVector(b, rows[i], rows[i + w / 2], masks[1], "")!)
                    }
                    rows = next
                }
                for (i, row) in rows.enumerated() {
                    let at = LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAdd(b, c0, m.int(i), "")!, dstLd, "")!, r0, "")!
                    m.store(row, m.vectorPointer(m.gep(dst, at), w))
                }
            }
        }
        let fullRows: KExpr = t.rows / .int(w) * .int(w), fullCols: KExpr = t.cols / .int(w) * .int(w)
        var right = t
        right.rows = fullRows
        try emit([t.scalarLoops(rowsFrom: fullRows), right.scalarLoops(colsFrom: fullCols)], &env)
    }
}
