import KilnIR

extension LowerContext {
    /// The largest decay range, −min_d B_last,d, for which a chunk's per-key-gate scores take
    /// the one-matmul form (`keyGateScoresGuarded`). Its factors reach e^{±range}: at 60,
    /// e^−60 ≈ 8.8e−27 is still a normal float and e^60 ≈ 1.1e26 times |q||k| over 128 key dims
    /// stays far below the float maximum, even on the masked-out side of the diagonal.
    static let keyGateOneMatmulRange: Float = 60

    /// Per-key-gate scores of a forward chunk, in one of two forms chosen per chunk at run time.
    /// When the chunk's gates decay by at most `keyGateOneMatmulRange` in every key dim (always,
    /// for gates such as GLA's logsigmoid(x)/16: at most 32 · 0.33 over a 32-row chunk),
    /// A = (scale Q ⊙ e^B)(K ⊙ e^−B)ᵀ is one matmul over the whole chunk, masked to j ≤ i:
    /// the operands are the gather's Qg and Kd (= K ⊙ e^{b_C − B}) times e^{−b_C}, so no exp is
    /// needed. Stronger gates (g near −30) would overflow e^−B; those chunks take the sub-chunk
    /// form (`keyGateScores`), whose factors are all ≤ 1.
    mutating func keyGateScoresGuarded(_ p: ChunkwisePlan, qg: Int, kd: Int, kt: Int, am: Int, cum: Int, eq: Int, steps: Int) -> [KStmt] {
        let (c, dk) = (p.chunk, p.dk)
        let (qB, kB, aB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * c))
        let last: KExpr = v("n") - 1
        let lastAt: KExpr = qB + last * .int(dk) + v("d")
        // Min over key dims of B_last (≤ 0); a NaN gate leaves `lo` NaN, which fails the test
        // below and takes the sub-chunk form, as before.
        let lo: KExpr = .load(cum, lastAt)
        var body: [KStmt] = [
            .variable("lo", .float(0)),
            .loop("d", .int(dk), parallel: false, [.assign("lo", .select(.flt(lo, .fvar("lo")), lo, .fvar("lo")))]),
            .variable("oneMatmul", .select(.flt(.float(-Self.keyGateOneMatmulRange), .fvar("lo")), .float(1), .float(0))),
        ]
        // Rows of K ⊙ e^{−B} = Kd ⊙ e^{−b_C}, then transposed as the matmul's B operand.
        let rows = temp("la.kinv", elements: p.bsz * p.h * c * dk)
        let rowAt: KExpr = qB + v("i") * .int(dk) + v("d")
        let oneMatmul: [KStmt] = [
            .loop("i", v("n"), parallel: false, [
                .loop("d", .int(dk), parallel: false, [.store(rows, rowAt, fdiv(.load(kd, rowAt), .load(eq, lastAt)))]),
            ] + prefetchNextChunkRow(p, row: v("i"))),
            .transpose(TileTranspose(rows: v("n"), cols: .int(dk), src: rows, srcOffset: qB, srcLd: .int(dk), dst: kt, dstOffset: kB, dstLd: .int(c))),
        ] + tileMatmul("qk", m: v("n"), n: v("n"), k: .int(dk), a: MatrixSlice(buffer: qg, offset: qB, ld: .int(dk)),
                       b: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)), c: MatrixSlice(buffer: am, offset: aB, ld: .int(c)),
                       accumulate: false) + [
            .loop("i", v("n"), parallel: false, [
                .loop("j1", v("n") - v("i") - 1, parallel: false, [.store(am, aB + v("i") * .int(c) + v("i") + 1 + v("j1"), .float(0))]),
            ]),
        ]
        body.append(.ifThen(.flt(.float(0.5), .fvar("oneMatmul")), oneMatmul))
        body.append(.ifThen(.flt(.fvar("oneMatmul"), .float(0.5)),
                            keyGateScores(p, qa: nil, kt: kt, am: am, cum: cum, steps: steps, prefetch: true)))
        return body
    }
}
