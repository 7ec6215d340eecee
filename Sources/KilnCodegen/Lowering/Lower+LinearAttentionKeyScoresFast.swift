import KilnIR

extension LowerContext {
    /// The largest decay range, −min_d B_last,d, for which a chunk's per-key-gate scores take
    /// the one-matmul form (`keyGateScoresGuarded`). Its factors reach e^{±range}: at 60,
    /// e^−60 ≈ 8.8e−27 is still a normal float and e^60 ≈ 1.1e26 times |q||k| over 128 key dims
    /// stays far below the float maximum, even on the masked-out side of the diagonal.
    static let keyGateOneMatmulRange: Float = 60

    /// Declares `oneMatmul` (1 or 0): whether this chunk's gates decay by at most
    /// `keyGateOneMatmulRange` in every key dim. A NaN gate fails the test and takes the
    /// sub-chunk form, as before.
    func keyGateOneMatmulGuard(_ p: ChunkwisePlan, cum: Int) -> [KStmt] {
        let lo: KExpr = .load(cum, p.scratch(p.chunk * p.dk) + (v("n") - 1) * .int(p.dk) + v("d"))
        return [
            .variable("lo", .float(0)),
            .loop("d", .int(p.dk), parallel: false, [.assign("lo", .select(.flt(lo, .fvar("lo")), lo, .fvar("lo")))]),
            .variable("oneMatmul", .select(.flt(.float(-Self.keyGateOneMatmulRange), .fvar("lo")), .float(1), .float(0))),
        ]
    }

    /// Conditions on `oneMatmul`: the one-matmul form, and the sub-chunk form.
    var oneMatmulChunk: KCond { .flt(.float(0.5), .fvar("oneMatmul")) }
    var subChunkChunk: KCond { .flt(.fvar("oneMatmul"), .float(0.5)) }

    /// Per-key-gate scores of a chunk, in one of two forms chosen per chunk at run time
    /// (`keyGateOneMatmulGuard` must come first). When the chunk's gates decay by at most
    /// `keyGateOneMatmulRange` in every key dim (always, for gates such as GLA's
    /// logsigmoid(x)/16: at most 32 · 0.33 over a 32-row chunk), A = (scale Q ⊙ e^B)(K ⊙ e^−B)ᵀ
    /// is one matmul over the whole chunk, masked to j ≤ i. Its operands are the gather's Qg and
    /// Kd (= K ⊙ e^{b_C − B}) divided by e^{b_C}, into `kinv` rows, so no exp is needed. Stronger
    /// gates (g near −30) would overflow e^−B; those chunks take the sub-chunk form
    /// (`keyGateScores`), whose factors are all ≤ 1. With `prefetch`, both forms prefetch the next
    /// chunk's rows as the forward's row loops do.
    mutating func keyGateScoresGuarded(_ p: ChunkwisePlan, qg: Int, kd: Int, kt: Int, am: Int, cum: Int, eq: Int, steps: Int,
                                       kinv: Int, prefetch: Bool) -> [KStmt] {
        let (c, dk) = (p.chunk, p.dk)
        let (qB, kB, aB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * c))
        let rowAt: KExpr = qB + v("i") * .int(dk) + v("d"), lastAt: KExpr = qB + (v("n") - 1) * .int(dk) + v("d")
        let oneMatmul: [KStmt] = [
            .loop("i", v("n"), parallel: false, [
                .loop("d", .int(dk), parallel: false, [.store(kinv, rowAt, fdiv(.load(kd, rowAt), .load(eq, lastAt)))]),
            ] + (prefetch ? prefetchNextChunkRow(p, row: v("i")) : [])),
            .transpose(TileTranspose(rows: v("n"), cols: .int(dk), src: kinv, srcOffset: qB, srcLd: .int(dk), dst: kt, dstOffset: kB, dstLd: .int(c))),
        ] + [
            // In 16-row blocks whose columns stop at the diagonal (as `causalScoresTimes`).
            .loop("rb", (v("n") + 15) / 16, parallel: false, [
                .letInt("r0", v("rb") * 16),
                .letInt("nr", .iop(.min, .int(16), v("n") - v("r0"))),
            ] + tileMatmul("qk", m: v("nr"), n: v("r0") + v("nr"), k: .int(dk), a: MatrixSlice(buffer: qg, offset: qB + v("r0") * .int(dk), ld: .int(dk)),
                           b: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)), c: MatrixSlice(buffer: am, offset: aB + v("r0") * .int(c), ld: .int(c)),
                           accumulate: false)),
            .loop("i", v("n"), parallel: false, [
                .loop("j1", v("n") - v("i") - 1, parallel: false, [.store(am, aB + v("i") * .int(c) + v("i") + 1 + v("j1"), .float(0))]),
            ]),
        ]
        return [
            .ifThen(oneMatmulChunk, oneMatmul),
            .ifThen(subChunkChunk, keyGateScores(p, qa: nil, kt: kt, am: am, cum: cum, steps: steps, prefetch: prefetch)),
        ]
    }

    /// The backward of the one-matmul scores, for chunks that took that form (else the sub-chunk
    /// backward, `keyGateIntraBackward`). With Q̂ = Qg and K̂ = `kinv` rows and dA masked to
    /// j ≤ i: dQ̂ = dA K̂ and dK̂ = dAᵀ Q̂ are two matmuls; dq += dQ̂ ⊙ scale e^B, dk = dK̂ ⊙ e^−B
    /// (dk's first term in this chunk) and dB += Q̂ ⊙ dQ̂ − K̂ ⊙ dK̂.
    mutating func keyGateIntraBackwardGuarded(_ p: ChunkwisePlan, _ s: ChunkScratch, _ gr: ChunkGrads, kinv: Int) -> [KStmt] {
        let (c, dk) = (p.chunk, p.dk)
        let (qB, aB) = (p.scratch(c * dk), p.scratch(c * c))
        let dqh = temp("la.bdqhat", elements: p.bsz * p.h * c * dk), dkh = temp("la.bdkhat", elements: p.bsz * p.h * c * dk)
        let at: KExpr = qB + v("i") * .int(dk) + v("d"), row: KExpr = p.at(v("i"), dk) + v("d")
        // da[j, i] = dA_ij: zero j > i.
        var oneMatmul: [KStmt] = [.loop("i", v("n"), parallel: false, [
            .loop("j1", v("n") - v("i") - 1, parallel: false, [.store(s.da, aB + (v("i") + 1 + v("j1")) * .int(c) + v("i"), .float(0))]),
        ])]
        oneMatmul += tileMatmul("bdq", m: v("n"), n: .int(dk), k: v("n"), a: MatrixSlice(buffer: s.da, offset: aB, ld: 1, colStride: .int(c)),
                                b: MatrixSlice(buffer: kinv, offset: qB, ld: .int(dk)), c: MatrixSlice(buffer: dqh, offset: qB, ld: .int(dk)),
                                accumulate: false)
        oneMatmul += tileMatmul("bdk", m: v("n"), n: .int(dk), k: v("n"), a: MatrixSlice(buffer: s.da, offset: aB, ld: .int(c)),
                                b: MatrixSlice(buffer: s.qg, offset: qB, ld: .int(dk)), c: MatrixSlice(buffer: dkh, offset: qB, ld: .int(dk)),
                                accumulate: false)
        oneMatmul.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .variable("g", .load(dqh, at)),
            .variable("h", .load(dkh, at)),
            .store(gr.dq, row, fadd(.load(gr.dq, row), fmul(.fvar("g"), fmul(.load(s.eq, at), .float(p.scale))))),
            .store(gr.dk, row, fdiv(.fvar("h"), .load(s.eq, at))),
            .store(s.db, at, fadd(.load(s.db, at), fsub(fmul(.fvar("g"), .load(s.qg, at)), fmul(.fvar("h"), .load(kinv, at))))),
        ])]))
        return [.ifThen(oneMatmulChunk, oneMatmul), .ifThen(subChunkChunk, keyGateIntraBackward(p, s, gr))]
    }
}
