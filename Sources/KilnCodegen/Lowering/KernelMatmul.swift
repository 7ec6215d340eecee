/// A row-major matrix inside a kernel buffer: element (r, c) at `buffer[offset + r * ld + c]`.
struct MatrixSlice {
    var buffer: Int
    var offset: KExpr
    var ld: KExpr
}

/// C[m x n] (+)= A[m x k] · B[k x n] as a Kernel IR loop nest, for matmuls inside kernels
/// (per-chunk linear attention). Loop order i, p, j keeps the innermost loop contiguous in B
/// and C so LLVM vectorizes it; p is unrolled by 4 so each vector of C is loaded and stored
/// once per four FMAs. `tag` keeps loop names unique when nests are nested in one kernel.
func matmulLoops(_ tag: String, m: KExpr, n: KExpr, k: KExpr, a: MatrixSlice, b: MatrixSlice, c: MatrixSlice,
                 accumulate: Bool) -> [KStmt] {
    let (i, p4, pr, j) = ("\(tag)i", "\(tag)p", "\(tag)r", "\(tag)j")
    let cAt: KExpr = c.offset + v(i) * c.ld + v(j)
    let aAt = { (col: KExpr) -> KExpr in a.offset + v(i) * a.ld + col }
    let bAt = { (row: KExpr) -> KExpr in b.offset + row * b.ld + v(j) }
    var rowBody: [KStmt] = []
    if !accumulate {
        rowBody.append(.loop(j, n, parallel: false, [.store(c.buffer, cAt, .float(0))]))
    }
    let base: KExpr = v(p4) * 4
    rowBody.append(.loop(p4, k / 4, parallel: false, [
        .variable("\(tag)a0", .load(a.buffer, aAt(base))),
        .variable("\(tag)a1", .load(a.buffer, aAt(base + 1))),
        .variable("\(tag)a2", .load(a.buffer, aAt(base + 2))),
        .variable("\(tag)a3", .load(a.buffer, aAt(base + 3))),
        .loop(j, n, parallel: false, [
            .store(c.buffer, cAt,
                   fadd(fadd(fadd(fadd(.load(c.buffer, cAt), fmul(.fvar("\(tag)a0"), .load(b.buffer, bAt(base)))),
                                  fmul(.fvar("\(tag)a1"), .load(b.buffer, bAt(base + 1)))),
                             fmul(.fvar("\(tag)a2"), .load(b.buffer, bAt(base + 2)))),
                        fmul(.fvar("\(tag)a3"), .load(b.buffer, bAt(base + 3))))),
        ]),
    ]))
    let tail: KExpr = (k / 4) * 4 + v(pr)
    rowBody.append(.loop(pr, k % 4, parallel: false, [
        .variable("\(tag)at", .load(a.buffer, aAt(tail))),
        .loop(j, n, parallel: false, [
            .store(c.buffer, cAt, fadd(.load(c.buffer, cAt), fmul(.fvar("\(tag)at"), .load(b.buffer, bAt(tail))))),
        ]),
    ]))
    return [.loop(i, m, parallel: false, rowBody)]
}
