import KilnIR

extension LowerContext {
    /// Per-key gates, backward of one diagonal score block (rows and columns i0 ..< i0 + ni of the
    /// chunk, inside the sub-chunk loop of `keyGateIntraBackward`). With t_ij = scale dA_ij and
    /// E_ij = e^{B_i − B_j} (j ≤ i):
    ///   dq_i += Σ_j t_ij (k_j ⊙ E_ij) = scale dA[i, ·] W⁽ⁱ⁾,  W⁽ⁱ⁾_j = k_j ⊙ E_ij, grown down i;
    ///   dk_j += Σ_i t_ij (q_i ⊙ E_ij) = scale dA[·, j] U⁽ʲ⁾,  U⁽ʲ⁾_i = q_i ⊙ E_ij, grown up j;
    ///   dB_i += q_i ⊙ dq_i(j < i) − k_i ⊙ dk_i(i > j)   (the j = i terms cancel exactly, so they
    ///   are left out of the matmuls and added to dq, dk alone: summing and cancelling them in
    ///   fp32 leaves rounding noise far above dB when strong gates make the rest underflow).
    /// Both recurrences multiply by steps e^{B_r − B_{r−1}} ≤ 1, so nothing can overflow, and each
    /// row's sum is a one-row matmul over the block instead of per-pair vector updates.
    /// `step` holds the steps of rows i0 ... i0 + ni (row r − i0 at stB + (r − i0)·dk).
    mutating func keyGateDiagonalBackward(_ p: ChunkwisePlan, _ s: ChunkScratch, _ gr: ChunkGrads, step: Int, stB: KExpr) -> [KStmt] {
        let (dk, c) = (p.dk, p.chunk)
        let sub = 16
        let aB = p.scratch(c * c), fB = p.scratch(c * dk)
        let w = temp("la.bdiagW", elements: p.bsz * p.h * sub * dk), u = temp("la.bdiagU", elements: p.bsz * p.h * sub * dk)
        let part = temp("la.bdiagSum", elements: p.bsz * p.h * dk)
        let (wB, pB) = (p.scratch(sub * dk), p.scratch(dk))
        let row = { (i: KExpr) -> KExpr in p.at(i, dk) + v("d") }
        let db = { (i: KExpr) -> KExpr in fB + i * .int(dk) + v("d") }
        let add = { (buf: Int, at: KExpr, x: KExpr) -> KStmt in .store(buf, at, fadd(.load(buf, at), x)) }
        let ii: KExpr = v("i0") + v("i"), jj: KExpr = v("i0") + v("j")
        let partAt: KExpr = pB + v("d")
        // dq and dB(+q ⊙ dq) by rows i, W decayed by step i then extended by k_i.
        var dq: [KStmt] = [
            .loop("j", v("i"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(w, wB + v("j") * .int(dk) + v("d"), fmul(.load(w, wB + v("j") * .int(dk) + v("d")), .load(step, stB + v("i") * .int(dk) + v("d")))),
            ])]),
            .loop("d", .int(dk), parallel: false, [.store(w, wB + v("i") * .int(dk) + v("d"), .load(p.k, row(ii)))]),
        ]
        // dA_ij for j = i0 ..< i sits at da[j, i] (column i of the stored dAᵀ): stride c.
        dq.append(.loop("d", .int(dk), parallel: false, [.store(part, partAt, .float(0))]))
        dq += tileMatmul("bdq", m: 1, n: .int(dk), k: v("i"), a: MatrixSlice(buffer: s.da, offset: aB + v("i0") * .int(c) + ii, ld: 0, colStride: .int(c)),
                         b: MatrixSlice(buffer: w, offset: wB, ld: .int(dk)), c: MatrixSlice(buffer: part, offset: pB, ld: .int(dk)), accumulate: true)
        dq.append(.variable("tii", fmul(.load(s.da, aB + ii * .int(c) + ii), .float(p.scale))))
        dq.append(.loop("d", .int(dk), parallel: false, [
            .variable("x", fmul(.load(part, partAt), .float(p.scale))),
            add(gr.dq, row(ii), fadd(.fvar("x"), fmul(.fvar("tii"), .load(p.k, row(ii))))),
            add(s.db, db(ii), fmul(.fvar("x"), .load(p.q, row(ii)))),
        ]))
        // dk and dB(−k ⊙ dk) by rows j from the bottom, U decayed by step j + 1 then extended by q_j.
        var dkRows: [KStmt] = [
            .letInt("j", v("ni") - 1 - v("jr")),
            .loop("i1", v("jr"), parallel: false, [
                .letInt("i", v("j") + 1 + v("i1")),
                .loop("d", .int(dk), parallel: false, [
                    .store(u, wB + v("i") * .int(dk) + v("d"), fmul(.load(u, wB + v("i") * .int(dk) + v("d")), .load(step, stB + (v("j") + 1) * .int(dk) + v("d")))),
                ]),
            ]),
            .loop("d", .int(dk), parallel: false, [.store(u, wB + v("j") * .int(dk) + v("d"), .load(p.q, row(jj)))]),
        ]
        // dA_ij for i = j + 1 ..< ni sits at da[j, i]: contiguous.
        dkRows.append(.loop("d", .int(dk), parallel: false, [.store(part, partAt, .float(0))]))
        dkRows += tileMatmul("bdk", m: 1, n: .int(dk), k: v("ni") - v("j") - 1, a: MatrixSlice(buffer: s.da, offset: aB + jj * .int(c) + jj + 1, ld: 0),
                             b: MatrixSlice(buffer: u, offset: wB + (v("j") + 1) * .int(dk), ld: .int(dk)),
                             c: MatrixSlice(buffer: part, offset: pB, ld: .int(dk)), accumulate: true)
        dkRows.append(.variable("tjj", fmul(.load(s.da, aB + jj * .int(c) + jj), .float(p.scale))))
        dkRows.append(.loop("d", .int(dk), parallel: false, [
            .variable("y", fmul(.load(part, partAt), .float(p.scale))),
            add(gr.dk, row(jj), fadd(.fvar("y"), fmul(.fvar("tjj"), .load(p.q, row(jj))))),
            .store(s.db, db(jj), fsub(.load(s.db, db(jj)), fmul(.fvar("y"), .load(p.k, row(jj))))),
        ]))
        return [.loop("i", v("ni"), parallel: false, dq), .loop("jr", v("ni"), parallel: false, dkRows)]
    }
}
