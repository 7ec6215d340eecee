/// A matrix inside a kernel buffer: element (r, c) at `buffer[offset + r * ld + c * colStride]`.
/// Only the A operand of a matmul may have `colStride` ≠ 1 (a transposed view).
struct MatrixSlice {
    var buffer: Int
    var offset: KExpr
    var ld: KExpr
    var colStride: KExpr = 1
}

/// C[m x n] (+)= A[m x k] · B[k x n] inside a kernel, through the register-blocked in-kernel
/// micro-kernel (`KStmt.matmul`). Used by the per-chunk linear-attention kernels, whose
/// operands are small tiles in per-(batch, head) scratch that is still in L1/L2.
func tileMatmul(_ tag: String, m: KExpr, n: KExpr, k: KExpr, a: MatrixSlice, b: MatrixSlice, c: MatrixSlice,
                 accumulate: Bool, perTile: [KStmt] = []) -> [KStmt] {
    var t = TileMatmul(m: m, n: n, k: k, a: a.buffer, aOffset: a.offset, aRowStride: a.ld, aColStride: a.colStride, b: b.buffer, bOffset: b.offset,
                       ldb: b.ld, c: c.buffer, cOffset: c.offset, ldc: c.ld, accumulate: accumulate)
    t.perTile = perTile
    return [.matmul(t)]
}
