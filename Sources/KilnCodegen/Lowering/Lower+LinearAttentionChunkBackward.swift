import KilnIR

extension LowerContext {
    /// One chunk of the chunkwise backward (see `lowerLinearAttentionChunkwiseBackward`): the
    /// gather and gate factors of the chunk are in place, `states` holds Sᵀ before the chunk and
    /// `ds` the cotangent of the state after it (updated here to the one before it).
    mutating func chunkBackward(_ p: ChunkwisePlan, _ s: ChunkScratch, _ gr: ChunkGrads, states: Int, stateAt: KExpr, ds: Int,
                                width: Int) -> [KStmt] {
        let (dk, dv, c, h) = (p.dk, p.dv, p.chunk, p.h)
        let (qB, kB, aB, vtB, fB, wB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * c), p.scratch(dv * c), p.scratch(c * width), p.scratch(width))
        let sb: KExpr = v("sb")
        let gated = p.gate != .none
        // dO packed row-major (as a matmul's B operand, rows 2 KB apart map onto a few L1 sets).
        let dO = MatrixSlice(buffer: s.dor, offset: p.scratch(c * dv), ld: .int(dv))
        let dbAt = { (i: KExpr) -> KExpr in fB + i * .int(width) + (width == 1 ? 0 : v("d")) }
        let cumAt = { (i: KExpr, d: KExpr) -> KExpr in .load(s.cum, fB + i * .int(width) + (width == 1 ? 0 : d)) }
        var body: [KStmt] = []
        if gated {
            body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(width), parallel: false, [.store(s.db, fB + v("i") * .int(width) + v("d"), .float(0))])]))
            body.append(.loop("d", .int(width), parallel: false, [.store(s.dbLast, wB + v("d"), .float(0))]))
        }
        // Packed dO and dOᵀ, then the forward's scores A.
        // Phase 2 walks the chunks backward: prefetch the previous chunk's rows of what it reads.
        var ahead: [(Int, Int)] = [(p.q, dk), (p.k, dk), (p.val, dv), (gr.dout, dv)]
        if p.gate == .key { ahead.append((p.g!, dk)) }
        body.append(.loop("i", v("n"), parallel: false, [.loop("j", .int(dv), parallel: false, [
            .store(s.dor, vtB + v("i") * .int(dv) + v("j"), .load(gr.dout, p.at(v("i"), dv) + v("j"))),
        ])] + prefetchChunkRow(p, row: v("i"), chunksAhead: -1, ahead)))
        body.append(.transpose(TileTranspose(rows: v("n"), cols: .int(dv), src: s.dor, srcOffset: vtB, srcLd: .int(dv),
                                             dst: s.dot, dstOffset: vtB, dstLd: .int(c))))
        // Per-key gates: the forward's two forms of the scores, chosen per chunk, and their backward below.
        let kinv = p.gate == .key ? temp("la.bkinv", elements: p.bsz * p.h * c * dk) : -1
        body += p.gate == .key ? keyGateOneMatmulGuard(p, cum: s.cum)
                                 + keyGateScoresGuarded(p, qg: s.qg, kd: s.kd, kt: s.kt, am: s.am, cum: s.cum, eq: s.eq, steps: s.steps,
                                                        kinv: kinv, prefetch: false)
                               : plainScores(p, qa: s.qa, kt: s.kt, am: s.am, cumAt: cumAt)
        // dV = Aᵀ dO + Kd dS.
        body += tileMatmul("dva", m: v("n"), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: s.am, offset: aB, ld: 1, colStride: .int(c)),
                           b: dO, c: MatrixSlice(buffer: gr.dv, offset: p.at(0, dv), ld: .int(h * dv)), accumulate: false)
        body += tileMatmul("dvs", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: s.kd, offset: qB, ld: .int(dk)),
                           b: MatrixSlice(buffer: ds, offset: sb, ld: .int(dv)),
                           c: MatrixSlice(buffer: gr.dv, offset: p.at(0, dv), ld: .int(h * dv)), accumulate: true)
        // dAᵀ = V dOᵀ (da[j, i] = dA_ij, unmasked).
        body += tileMatmul("da", m: v("n"), n: v("n"), k: .int(dv), a: MatrixSlice(buffer: p.val, offset: p.at(0, dv), ld: .int(h * dv)),
                           b: MatrixSlice(buffer: s.dot, offset: vtB, ld: .int(c)), c: MatrixSlice(buffer: s.da, offset: aB, ld: .int(c)),
                           accumulate: false)
        if gated {
            // dq holds the inter-chunk part (phase 1): its dB term, q ⊙ dq, before the intra part lands.
            body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(s.db, dbAt(v("i")), fadd(.load(s.db, dbAt(v("i"))), fmul(.load(gr.dq, p.at(v("i"), dk) + v("d")), .load(p.q, p.at(v("i"), dk) + v("d"))))),
            ])]))
        }
        body += p.gate == .key ? keyGateIntraBackwardGuarded(p, s, gr, kinv: kinv) : plainIntraBackward(p, s, gr, cumAt: cumAt, accumulateDq: true)
        // Inter-chunk dK = (V dSᵀ) ⊙ e^{b_C − B}, with dSᵀ transposed once per chunk (it is also
        // read below, and reading dS down a column gathers).
        body.append(.transpose(TileTranspose(rows: .int(dk), cols: .int(dv), src: ds, srcOffset: sb, srcLd: .int(dv),
                                             dst: s.dsT, dstOffset: sb, dstLd: .int(dk))))
        body += tileMatmul("dks", m: v("n"), n: .int(dk), k: .int(dv), a: MatrixSlice(buffer: p.val, offset: p.at(0, dv), ld: .int(h * dv)),
                           b: MatrixSlice(buffer: s.dsT, offset: sb, ld: .int(dk)), c: MatrixSlice(buffer: s.tmp, offset: qB, ld: .int(dk)),
                           accumulate: false)
        let ekAt: KExpr = gated ? .load(s.ek, dbAt(v("i"))) : .float(1)
        var dkInter: [KStmt] = [
            .variable("y", fmul(.load(s.tmp, qB + v("i") * .int(dk) + v("d")), ekAt)),
            .store(gr.dk, p.at(v("i"), dk) + v("d"), fadd(.load(gr.dk, p.at(v("i"), dk) + v("d")), .fvar("y"))),
        ]
        if gated {
            // Through e^{b_C − B_i}: −B_i and +b_C, which cancel on the last row.
            dkInter += [
                .variable("ky", .select(.ilt(v("i"), v("n") - 1), fmul(.fvar("y"), .load(p.k, p.at(v("i"), dk) + v("d"))), .float(0))),
                .store(s.db, dbAt(v("i")), fsub(.load(s.db, dbAt(v("i"))), .fvar("ky"))),
                .store(s.dbLast, wB + (width == 1 ? 0 : v("d")), fadd(.load(s.dbLast, wB + (width == 1 ? 0 : v("d"))), .fvar("ky"))),
            ]
        }
        body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, dkInter)]
                          + prefetchPreviousState(p, states: states, stateAt: stateAt)))
        if gated {
            // b_C also scales the carried state: dB_last += e^{b_C} ⟨S, dS⟩ (per key dim for key gates).
            // Rows j of the stored Sᵀ and of dSᵀ in order (contiguous), one running sum per key
            // dim in `tmp` (a sum per d down j would be a serial add chain).
            let accAt: KExpr = qB + v("d")
            body += [
                .loop("d", .int(dk), parallel: false, [.store(s.tmp, accAt, .float(0))]),
                .loop("j", .int(dv), parallel: false, [.loop("d", .int(dk), parallel: false, [
                    .store(s.tmp, accAt, fadd(.load(s.tmp, accAt), fmul(.load(states, stateAt + v("j") * .int(dk) + v("d")), .load(s.dsT, sb + v("j") * .int(dk) + v("d"))))),
                ])]),
                .loop("d", .int(dk), parallel: false, [
                    .store(s.dbLast, wB + (width == 1 ? 0 : v("d")),
                           fadd(.load(s.dbLast, wB + (width == 1 ? 0 : v("d"))), fmul(.load(s.tmp, accAt), lastDecay(p, s, width: width)))),
                ]),
            ]
            // dg = reverse cumsum of dB within the chunk.
            let outAt = { (i: KExpr) -> KExpr in width == 1 ? p.at(i, 1) : p.at(i, dk) + v("d") }
            body.append(.loop("d", .int(width), parallel: false, [
                .store(s.db, fB + (v("n") - 1) * .int(width) + v("d"), fadd(.load(s.db, fB + (v("n") - 1) * .int(width) + v("d")), .load(s.dbLast, wB + v("d")))),
                .store(gr.dg!, outAt(v("n") - 1), .load(s.db, fB + (v("n") - 1) * .int(width) + v("d"))),
            ]))
            body.append(.loop("ir", v("n") - 1, parallel: false, [
                .letInt("i", v("n") - 2 - v("ir")),
                .loop("d", .int(width), parallel: false, [
                    .store(s.db, fB + v("i") * .int(width) + v("d"), fadd(.load(s.db, fB + v("i") * .int(width) + v("d")), .load(s.db, fB + (v("i") + 1) * .int(width) + v("d")))),
                    .store(gr.dg!, outAt(v("i")), .load(s.db, fB + v("i") * .int(width) + v("d"))),
                ]),
            ]))
            // dS ← e^{b_C} ⊙ dS (rows), before the Qgᵀ dO term.
            body.append(.loop("d", .int(dk), parallel: false, [
                .variable("carry", lastDecay(p, s, width: width)),
                .loop("j", .int(dv), parallel: false, [.store(ds, sb + v("d") * .int(dv) + v("j"), fmul(.load(ds, sb + v("d") * .int(dv) + v("j")), .fvar("carry")))]),
            ]))
        }
        // The chunk's last and longest matmul prefetches the previous chunk's rows again, a few
        // lines per tile (see `spreadNextChunkPrefetch`): GLA forward+backward, 2 threads, 3 x
        // 30-40 alternating rounds of `kiln run --grad --ab-env`: -2.1 to -2.4% per round (median).
        body += tileMatmul("dss", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: s.qg, offset: qB, ld: 1, colStride: .int(dk)),
                           b: dO, c: MatrixSlice(buffer: ds, offset: sb, ld: .int(dv)), accumulate: true,
                           perTile: spreadNextChunkPrefetch(p, ahead, chunksAhead: -1))
        return body
    }

    /// Prefetches row i's share of Sᵀ before the previous chunk (the next one phase 2 visits),
    /// from a loop over the chunk's rows i. With saved states, each Sᵀ (64 KiB at Dk = Dv = 128)
    /// was written by the forward long before and comes from DRAM; unprefetched, the dQ matmul
    /// that reads it first took 12% of the GLA backward at 1 thread.
    func prefetchPreviousState(_ p: ChunkwisePlan, states: Int, stateAt: KExpr) -> [KStmt] {
        let lines = (p.dk * p.dv + 15) / 16
        let first: KExpr = v("i") * .int(lines) / v("n"), end: KExpr = (v("i") + 1) * .int(lines) / v("n")
        return [.ifThen(.ilt(.int(0), v("c")), [
            .loop("l", end - first, parallel: false, [.prefetch(states, stateAt - .int(p.dk * p.dv) + (first + v("l")) * 16, write: false)]),
        ])]
    }

    /// Gates none / scalar: dP = scale e^{b_i − b_j} dA on the causal triangle; dQ = dP K,
    /// dK = dPᵀ Q (raw), and the pair terms dA ⊙ A of dB.
    /// `accumulateDq`: dq already holds the inter-chunk part.
    func plainIntraBackward(_ p: ChunkwisePlan, _ s: ChunkScratch, _ gr: ChunkGrads, cumAt: (KExpr, KExpr) -> KExpr,
                            accumulateDq: Bool = false) -> [KStmt] {
        let (dk, c, h) = (p.dk, p.chunk, p.h)
        let aB = p.scratch(c * c), fB = p.scratch(c)
        let decay: KExpr = p.gate == .scalar ? .call(.exp_nonpositive, .fop(.min, fsub(cumAt(v("i"), 0), cumAt(v("j"), 0)), .float(0))) : .float(1)
        var body: [KStmt] = [.loop("i", v("n"), parallel: false, [.loop("j", v("n"), parallel: false, [
            .store(s.dp, aB + v("i") * .int(c) + v("j"),
                   .select(.ilt(v("i"), v("j")), .float(0), fmul(fmul(.load(s.da, aB + v("j") * .int(c) + v("i")), .float(p.scale)), decay))),
        ])])]
        body += tileMatmul("dqa", m: v("n"), n: .int(dk), k: v("n"), a: MatrixSlice(buffer: s.dp, offset: aB, ld: .int(c)),
                           b: MatrixSlice(buffer: p.k, offset: p.at(0, dk), ld: .int(h * dk)),
                           c: MatrixSlice(buffer: gr.dq, offset: p.at(0, dk), ld: .int(h * dk)), accumulate: accumulateDq)
        body += tileMatmul("dka", m: v("n"), n: .int(dk), k: v("n"), a: MatrixSlice(buffer: s.dp, offset: aB, ld: 1, colStride: .int(c)),
                           b: MatrixSlice(buffer: p.q, offset: p.at(0, dk), ld: .int(h * dk)),
                           c: MatrixSlice(buffer: gr.dk, offset: p.at(0, dk), ld: .int(h * dk)), accumulate: false)
        if p.gate == .scalar {
            body.append(.loop("i", v("n"), parallel: false, [.loop("j", v("i"), parallel: false, [
                .variable("pair", fmul(.load(s.da, aB + v("j") * .int(c) + v("i")), .load(s.am, aB + v("i") * .int(c) + v("j")))),
                .store(s.db, fB + v("i"), fadd(.load(s.db, fB + v("i")), .fvar("pair"))),
                .store(s.db, fB + v("j"), fsub(.load(s.db, fB + v("j")), .fvar("pair"))),
            ])]))
        }
        return body
    }
}

extension LowerContext {
    /// Per-key gates, in the forward's 16-row sub-chunks I with reference row r = B[first row of I]:
    /// off-diagonal blocks through Qr = scale Q_I ⊙ e^{B_I − r} and Kr = K ⊙ e^{r − B} (both ≤ 1):
    /// dQr = dA[I, <I] Kr, dKr = dA[I, <I]ᵀ Qr, with dB += Qr ⊙ dQr on I and −= Kr ⊙ dKr before it;
    /// the diagonal block elementwise, vectorized over the key dimension.
    mutating func keyGateIntraBackward(_ p: ChunkwisePlan, _ s: ChunkScratch, _ gr: ChunkGrads) -> [KStmt] {
        let (dk, c) = (p.dk, p.chunk)
        let sub = 16
        let (aB, fB) = (p.scratch(c * c), p.scratch(c * dk))
        let qr = temp("la.bqr", elements: p.bsz * p.h * sub * dk), fq = temp("la.bfq", elements: p.bsz * p.h * sub * dk)
        let dqr = temp("la.bdqr", elements: p.bsz * p.h * sub * dk)
        let kr = temp("la.bkr", elements: p.bsz * p.h * c * dk), fk = temp("la.bfk", elements: p.bsz * p.h * c * dk)
        let dkr = temp("la.bdkr", elements: p.bsz * p.h * c * dk)
        let run = temp("la.brun", elements: p.bsz * p.h * dk)
        let (sB, cB) = (p.scratch(sub * dk), p.scratch(c * dk))
        let cum = { (i: KExpr) -> KExpr in .load(s.cum, fB + i * .int(dk) + v("d")) }
        let db = { (i: KExpr) -> KExpr in fB + i * .int(dk) + v("d") }
        let row = { (i: KExpr) -> KExpr in p.at(i, dk) + v("d") }
        let ii: KExpr = v("i0") + v("i"), jj: KExpr = v("i0") + v("j")
        let add = { (buf: Int, at: KExpr, x: KExpr) -> KStmt in .store(buf, at, fadd(.load(buf, at), x)) }
        var perSub: [KStmt] = [
            .letInt("i0", v("sc") * .int(sub)),
            .letInt("ni", .iop(.min, .int(sub), v("n") - v("i0"))),
            // e^{B_i − r}: a running product of the chunk's steps down the sub-chunk.
            .loop("i", v("ni"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(run, v("bh") * .int(dk) + v("d"), .select(.ilt(.int(0), v("i")),
                                                                fmul(.load(run, v("bh") * .int(dk) + v("d")), .load(s.steps, db(ii))), .float(1))),
                .variable("f", fmul(.load(run, v("bh") * .int(dk) + v("d")), .float(p.scale))),
                .store(fq, sB + v("i") * .int(dk) + v("d"), .fvar("f")),
                .store(qr, sB + v("i") * .int(dk) + v("d"), fmul(.load(p.q, row(ii)), .fvar("f"))),
                .store(dqr, sB + v("i") * .int(dk) + v("d"), .float(0)),
            ])]),
            .loop("j", v("i0"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .variable("f", .call(.exp_nonpositive, fsub(cum(v("i0")), cum(v("j"))))),
                .store(fk, cB + v("j") * .int(dk) + v("d"), .fvar("f")),
                .store(kr, cB + v("j") * .int(dk) + v("d"), fmul(.load(p.k, row(v("j"))), .fvar("f"))),
            ])]),
        ]
        perSub += tileMatmul("bqr", m: v("ni"), n: .int(dk), k: v("i0"), a: MatrixSlice(buffer: s.da, offset: aB + v("i0"), ld: 1, colStride: .int(c)),
                             b: MatrixSlice(buffer: kr, offset: cB, ld: .int(dk)), c: MatrixSlice(buffer: dqr, offset: sB, ld: .int(dk)),
                             accumulate: true)
        perSub.append(.loop("i", v("ni"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .variable("g", .load(dqr, sB + v("i") * .int(dk) + v("d"))),
            add(gr.dq, row(ii), fmul(.fvar("g"), .load(fq, sB + v("i") * .int(dk) + v("d")))),
            add(s.db, db(ii), fmul(.fvar("g"), .load(qr, sB + v("i") * .int(dk) + v("d")))),
        ])]))
        perSub += tileMatmul("bkr", m: v("i0"), n: .int(dk), k: v("ni"), a: MatrixSlice(buffer: s.da, offset: aB + v("i0"), ld: .int(c)),
                             b: MatrixSlice(buffer: qr, offset: sB, ld: .int(dk)), c: MatrixSlice(buffer: dkr, offset: cB, ld: .int(dk)),
                             accumulate: false)
        perSub.append(.loop("j", v("i0"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .variable("g", .load(dkr, cB + v("j") * .int(dk) + v("d"))),
            add(gr.dk, row(v("j")), fmul(.fvar("g"), .load(fk, cB + v("j") * .int(dk) + v("d")))),
            .store(s.db, db(v("j")), fsub(.load(s.db, db(v("j"))), fmul(.fvar("g"), .load(kr, cB + v("j") * .int(dk) + v("d"))))),
        ])]))
        // Diagonal block: in-block recurrences over the chunk's steps e^{B_i − B_{i−1}} (see
        // keyGateDiagonalBackward).
        perSub += keyGateDiagonalBackward(p, s, gr, step: s.steps, stB: fB + v("i0") * .int(dk))
        return [.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .store(gr.dk, row(v("i")), .float(0)),
        ])]), .loop("sc", (v("n") + .int(sub - 1)) / .int(sub), parallel: false, perSub)]
    }
}
