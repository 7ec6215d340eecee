import KilnIR

extension LowerContext {
    /// Chunkwise DeltaNet backward (reference/chunkwise.md §2), parallel over (batch, head).
    /// Phase 1 recomputes S before every chunk (fp32); phase 2 walks chunks backward with dS and,
    /// per chunk, recomputes the UT transform (An, Wn = −W, U, V_new = U + Wn S), then
    ///   dV_new = Pᵀ dO + K dS (P = scale Q Kᵀ masked);  dQ = dP K + scale dO Sᵀ;  dK = dPᵀ Q + V_new dSᵀ;
    ///   dWn = dV_new Sᵀ;  Zw = Tᵀ dWn, Zu = Tᵀ dV_new (blocked backward substitution with (I + A)ᵀ);
    ///   dA = −strict_lower(Zw Wnᵀ + Zu Uᵀ);  d(βK) = −Zw + dA K;  dK += dAᵀ (βK);
    ///   dK += β d(βK), dV = β Zu, dβ = ⟨K, d(βK)⟩ + ⟨V, Zu⟩;  dS ← dS + scale Qᵀ dO + Wnᵀ dV_new.
    mutating func lowerDeltaChunkwiseBackward(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int]) {
        let a = node.attributes
        let hasH0 = a.bool("has_h0")
        let qs = inT[0].shape, dv = inT[2].shape[3]
        let (bsz, tl, h, dk) = (qs[0], qs[1], qs[2], qs[3])
        let nf = 4 + (hasH0 ? 1 : 0)
        let p = ChunkwisePlan(gate: .delta, bsz: bsz, tl: tl, h: h, dk: dk, dv: dv, chunk: min(a.int("chunk"), tl),
                              scale: Float(a.float("scale")), q: ins[0], k: ins[1], val: ins[2], g: ins[3],
                              h0: hasH0 ? ins[nf - 1] : nil, o: -1, state: temp("la.S", elements: bsz * h * dk * dv))
        let gr = ChunkGrads(dout: ins[nf], dstate: ins[nf + 1], dq: outs[0], dk: outs[1], dv: outs[2], dg: outs[3], dh0: hasH0 ? outs.last : nil)
        let (n, c, bh) = (dk * dv, p.chunk, bsz * h)
        let ut = DeltaUT(qa: temp("la.q", elements: bh * c * dk), kt: temp("la.kt", elements: bh * dk * c),
                         wn: temp("la.w", elements: bh * c * dk), u: temp("la.u", elements: bh * c * dv),
                         an: temp("la.an", elements: bh * c * c), kb: temp("la.kb", elements: bh * c * dk))
        let vn = temp("la.vn", elements: bh * c * dv)
        let states = temp("la.states", elements: bh * p.chunks * n)
        let ds = temp("la.dS", elements: bh * n)
        let sb: KExpr = v("sb")
        let stateAt: KExpr = (v("bh") * .int(p.chunks) + v("c")) * .int(n)
        let (qB, vB) = (p.scratch(c * dk), p.scratch(c * dv))
        let chunkHead: [KStmt] = [.letInt("c0", v("c") * .int(c)), .letInt("n", .iop(.min, .int(c), .int(tl) - v("c0")))]
        // V_new = U + Wn S, kept apart from U (the backward needs both).
        let newValues: [KStmt] = [.loop("i", v("n"), parallel: false, [.loop("j", .int(dv), parallel: false, [
            .store(vn, vB + v("i") * .int(dv) + v("j"), .load(ut.u, vB + v("i") * .int(dv) + v("j"))),
        ])])] + tileMatmul("ws", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: ut.wn, offset: qB, ld: .int(dk)),
                           b: MatrixSlice(buffer: p.state, offset: sb, ld: .int(dv)), c: MatrixSlice(buffer: vn, offset: vB, ld: .int(dv)),
                           accumulate: true)
        var body: [KStmt] = [
            .letInt("b", v("bh") / .int(h)), .letInt("hh", v("bh") % .int(h)), .letInt("sb", v("bh") * .int(n)),
            .loop("e", .int(n), parallel: false, [.store(p.state, sb + v("e"), p.h0.map { .load($0, sb + v("e")) } ?? .float(0))]),
        ]
        // Phase 1: S before each chunk; S ← S + Kᵀ V_new.
        var fwd = chunkHead + [.loop("e", .int(n), parallel: false, [.store(states, stateAt + v("e"), .load(p.state, sb + v("e")))])]
        fwd += deltaUT(p, ut) + newValues
        fwd += tileMatmul("kv", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: ut.kt, offset: p.scratch(dk * c), ld: .int(c)),
                          b: MatrixSlice(buffer: vn, offset: vB, ld: .int(dv)), c: MatrixSlice(buffer: p.state, offset: sb, ld: .int(dv)),
                          accumulate: true)
        body.append(.loop("c", .int(p.chunks), parallel: false, fwd))
        // Phase 2. The chunk's S is copied back into p.state so the recompute reads it there.
        body.append(.loop("e", .int(n), parallel: false, [.store(ds, sb + v("e"), .load(gr.dstate, sb + v("e")))]))
        var bwd: [KStmt] = [.letInt("c", .int(p.chunks - 1) - v("cr"))] + chunkHead
        bwd.append(.loop("e", .int(n), parallel: false, [.store(p.state, sb + v("e"), .load(states, stateAt + v("e")))]))
        bwd += deltaUT(p, ut) + newValues
        bwd += deltaChunkBackward(p, ut, vn: vn, gr, ds: ds)
        body.append(.loop("cr", .int(p.chunks), parallel: false, bwd))
        if let dh0 = gr.dh0 { body.append(.loop("e", .int(n), parallel: false, [.store(dh0, sb + v("e"), .load(ds, sb + v("e")))])) }
        kernel("linear_attention_chunkwise_bwd_delta", parallel: bh, [.loop("bh", .int(bh), parallel: true, body)])
    }

    mutating func deltaChunkBackward(_ p: ChunkwisePlan, _ ut: DeltaUT, vn: Int, _ gr: ChunkGrads, ds: Int) -> [KStmt] {
        let (dk, dv, c, h, bh) = (p.dk, p.dv, p.chunk, p.h, p.bsz * p.h)
        let sub = 16
        let (qB, kB, vB, aB, vtB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * dv), p.scratch(c * c), p.scratch(dv * c))
        let sb: KExpr = v("sb")
        let am = temp("la.p", elements: bh * c * c), da = temp("la.dAT", elements: bh * c * c), dp = temp("la.dP", elements: bh * c * c)
        let dot = temp("la.doT", elements: bh * dv * c), vnT = temp("la.vnT", elements: bh * dv * c), dvnT = temp("la.dvnT", elements: bh * dv * c)
        let dvn = temp("la.dvn", elements: bh * c * dv), zw = temp("la.zw", elements: bh * c * dk)
        let tmpT = temp("la.tmpT", elements: bh * dk * c), wnT = temp("la.wnT", elements: bh * dk * c), uT = temp("la.uT", elements: bh * dv * c)
        let dO = MatrixSlice(buffer: gr.dout, offset: p.at(0, dv), ld: .int(h * dv))
        let rows = { (buf: Int, width: Int) in MatrixSlice(buffer: buf, offset: p.at(0, width), ld: .int(h * width)) }
        let S = MatrixSlice(buffer: p.state, offset: sb, ld: .int(dv))
        let transpose = { (src: Int, srcB: KExpr, dst: Int, dstB: KExpr, width: Int) -> KStmt in
            .loop("i", v("n"), parallel: false, [.loop("j", .int(width), parallel: false, [
                .store(dst, dstB + v("j") * .int(c) + v("i"), .load(src, srcB + v("i") * .int(width) + v("j"))),
            ])])
        }
        var body: [KStmt] = [
            .loop("i", v("n"), parallel: false, [.loop("j", .int(dv), parallel: false, [
                .store(dot, vtB + v("j") * .int(c) + v("i"), .load(gr.dout, p.at(v("i"), dv) + v("j"))),
            ])]),
            transpose(vn, vB, vnT, vtB, dv), transpose(ut.wn, qB, wnT, kB, dk), transpose(ut.u, vB, uT, vtB, dv),
        ]
        body += plainScores(p, qa: ut.qa, kt: ut.kt, am: am, cumAt: { _, _ in .float(0) })
        // dV_new = Pᵀ dO + K dS.
        body += tileMatmul("dvn", m: v("n"), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: am, offset: aB, ld: 1, colStride: .int(c)),
                           b: dO, c: MatrixSlice(buffer: dvn, offset: vB, ld: .int(dv)), accumulate: false)
        body += tileMatmul("dvs", m: v("n"), n: .int(dv), k: .int(dk), a: rows(p.k, dk), b: MatrixSlice(buffer: ds, offset: sb, ld: .int(dv)),
                           c: MatrixSlice(buffer: dvn, offset: vB, ld: .int(dv)), accumulate: true)
        // dP from dAᵀ = V_new dOᵀ; dQ = dP K, dK = dPᵀ Q (the plain-attention intra terms).
        body += tileMatmul("da", m: v("n"), n: v("n"), k: .int(dv), a: MatrixSlice(buffer: vn, offset: vB, ld: .int(dv)),
                           b: MatrixSlice(buffer: dot, offset: vtB, ld: .int(c)), c: MatrixSlice(buffer: da, offset: aB, ld: .int(c)), accumulate: false)
        let scratch = ChunkScratch(cum: -1, eq: -1, ek: -1, qa: ut.qa, qg: -1, kd: -1, kt: ut.kt, am: am, dot: dot, da: da, dp: dp,
                                   tmp: -1, db: -1, dbLast: -1)
        body += plainIntraBackward(p, scratch, gr, cumAt: { _, _ in .float(0) })
        // dQ += scale dO Sᵀ and dK += V_new dSᵀ, each as the transpose of a product.
        body += tileMatmul("dqs", m: .int(dk), n: v("n"), k: .int(dv), a: S, b: MatrixSlice(buffer: dot, offset: vtB, ld: .int(c)),
                           c: MatrixSlice(buffer: tmpT, offset: kB, ld: .int(c)), accumulate: false)
        body.append(addTransposed(tmpT, kB, to: gr.dq, p, scale: p.scale))
        body += tileMatmul("dks", m: .int(dk), n: v("n"), k: .int(dv), a: MatrixSlice(buffer: ds, offset: sb, ld: .int(dv)),
                           b: MatrixSlice(buffer: vnT, offset: vtB, ld: .int(c)), c: MatrixSlice(buffer: tmpT, offset: kB, ld: .int(c)), accumulate: false)
        body.append(addTransposed(tmpT, kB, to: gr.dk, p, scale: 1))
        // dS ← dS + scale Qᵀ dO + Wnᵀ dV_new (after its last use above).
        body += tileMatmul("dsq", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: ut.qa, offset: qB, ld: 1, colStride: .int(dk)),
                           b: dO, c: MatrixSlice(buffer: ds, offset: sb, ld: .int(dv)), accumulate: true)
        body += tileMatmul("dsw", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: ut.wn, offset: qB, ld: 1, colStride: .int(dk)),
                           b: MatrixSlice(buffer: dvn, offset: vB, ld: .int(dv)), c: MatrixSlice(buffer: ds, offset: sb, ld: .int(dv)), accumulate: true)
        // dWn = dV_new Sᵀ = (S dV_newᵀ)ᵀ, into zw (then Zw = Tᵀ dWn in place).
        body.append(transpose(dvn, vB, dvnT, vtB, dv))
        body += tileMatmul("dw", m: .int(dk), n: v("n"), k: .int(dv), a: S, b: MatrixSlice(buffer: dvnT, offset: vtB, ld: .int(c)),
                           c: MatrixSlice(buffer: tmpT, offset: kB, ld: .int(c)), accumulate: false)
        body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .store(zw, qB + v("i") * .int(dk) + v("d"), .load(tmpT, kB + v("d") * .int(c) + v("i"))),
        ])]))
        // Zw = Tᵀ dWn and Zu = Tᵀ dV_new (in dvn): (I − An)ᵀ Z = Y, blocks from the last.
        var block: [KStmt] = [
            .letInt("i0", (.int(0) - v("scr") - 1 + (v("n") + .int(sub - 1)) / .int(sub)) * .int(sub)),
            .letInt("ni", .iop(.min, .int(sub), v("n") - v("i0"))),
            .letInt("after", v("i0") + v("ni")),
        ]
        for (tag, buf, width, base) in [("zw", zw, dk, qB), ("zu", dvn, dv, vB)] {
            block += tileMatmul("bs\(tag)", m: v("ni"), n: .int(width), k: v("n") - v("after"),
                                a: MatrixSlice(buffer: ut.an, offset: aB + v("after") * .int(c) + v("i0"), ld: 1, colStride: .int(c)),
                                b: MatrixSlice(buffer: buf, offset: base + v("after") * .int(width), ld: .int(width)),
                                c: MatrixSlice(buffer: buf, offset: base + v("i0") * .int(width), ld: .int(width)), accumulate: true)
        }
        let at = { (i: KExpr, width: Int, base: KExpr, col: KExpr) -> KExpr in base + (v("i0") + i) * .int(width) + col }
        block.append(.loop("ir", v("ni"), parallel: false, [
            .letInt("i", v("ni") - 1 - v("ir")),
            .loop("j1", v("ir"), parallel: false, [
                .letInt("j", v("i") + 1 + v("j1")),
                .variable("aji", .load(ut.an, aB + (v("i0") + v("j")) * .int(c) + v("i0") + v("i"))),
                .loop("d", .int(dk), parallel: false, [
                    .store(zw, at(v("i"), dk, qB, v("d")), fadd(.load(zw, at(v("i"), dk, qB, v("d"))), fmul(.fvar("aji"), .load(zw, at(v("j"), dk, qB, v("d")))))),
                ]),
                .loop("e", .int(dv), parallel: false, [
                    .store(dvn, at(v("i"), dv, vB, v("e")), fadd(.load(dvn, at(v("i"), dv, vB, v("e"))), fmul(.fvar("aji"), .load(dvn, at(v("j"), dv, vB, v("e")))))),
                ]),
            ]),
        ]))
        body.append(.loop("scr", (v("n") + .int(sub - 1)) / .int(sub), parallel: false, block))
        // dA = −strict_lower(Zw Wnᵀ + Zu Uᵀ), into dp.
        body += tileMatmul("mw", m: v("n"), n: v("n"), k: .int(dk), a: MatrixSlice(buffer: zw, offset: qB, ld: .int(dk)),
                           b: MatrixSlice(buffer: wnT, offset: kB, ld: .int(c)), c: MatrixSlice(buffer: dp, offset: aB, ld: .int(c)), accumulate: false)
        body += tileMatmul("mu", m: v("n"), n: v("n"), k: .int(dv), a: MatrixSlice(buffer: dvn, offset: vB, ld: .int(dv)),
                           b: MatrixSlice(buffer: uT, offset: vtB, ld: .int(c)), c: MatrixSlice(buffer: dp, offset: aB, ld: .int(c)), accumulate: true)
        body.append(.loop("i", v("n"), parallel: false, [.loop("j", v("n"), parallel: false, [
            .store(dp, aB + v("i") * .int(c) + v("j"), .select(.ilt(v("j"), v("i")), fmul(.load(dp, aB + v("i") * .int(c) + v("j")), .float(-1)), .float(0))),
        ])]))
        // d(βK) = −Zw + dA K (in zw); dK += dAᵀ (βK).
        body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .store(zw, qB + v("i") * .int(dk) + v("d"), fmul(.load(zw, qB + v("i") * .int(dk) + v("d")), .float(-1))),
        ])]))
        body += tileMatmul("dkb", m: v("n"), n: .int(dk), k: v("n"), a: MatrixSlice(buffer: dp, offset: aB, ld: .int(c)), b: rows(p.k, dk),
                           c: MatrixSlice(buffer: zw, offset: qB, ld: .int(dk)), accumulate: true)
        body += tileMatmul("dkt", m: v("n"), n: .int(dk), k: v("n"), a: MatrixSlice(buffer: dp, offset: aB, ld: 1, colStride: .int(c)),
                           b: MatrixSlice(buffer: ut.kb!, offset: qB, ld: .int(dk)), c: rows(gr.dk, dk), accumulate: true)
        // Through β: dK += β d(βK), dV = β Zu, dβ = ⟨K, d(βK)⟩ + ⟨V, Zu⟩.
        body.append(.loop("i", v("n"), parallel: false, [
            .variable("beta", .load(p.g!, p.at(v("i"), 1))),
            .variable("db", .float(0)),
            .loop("d", .int(dk), parallel: false, [
                .variable("x", .load(zw, qB + v("i") * .int(dk) + v("d"))),
                .store(gr.dk, p.at(v("i"), dk) + v("d"), fadd(.load(gr.dk, p.at(v("i"), dk) + v("d")), fmul(.fvar("beta"), .fvar("x")))),
                .assign("db", fadd(.fvar("db"), fmul(.fvar("x"), .load(p.k, p.at(v("i"), dk) + v("d"))))),
            ]),
            .loop("e", .int(dv), parallel: false, [
                .variable("y", .load(dvn, vB + v("i") * .int(dv) + v("e"))),
                .store(gr.dv, p.at(v("i"), dv) + v("e"), fmul(.fvar("beta"), .fvar("y"))),
                .assign("db", fadd(.fvar("db"), fmul(.fvar("y"), .load(p.val, p.at(v("i"), dv) + v("e"))))),
            ]),
            .store(gr.dg!, p.at(v("i"), 1), .fvar("db")),
        ]))
        return body
    }

    /// dst rows (q layout) += scale · srcᵀ, src being a Dk x C tile.
    func addTransposed(_ src: Int, _ srcB: KExpr, to dst: Int, _ p: ChunkwisePlan, scale: Float) -> KStmt {
        .loop("i", v("n"), parallel: false, [.loop("d", .int(p.dk), parallel: false, [
            .store(dst, p.at(v("i"), p.dk) + v("d"),
                   fadd(.load(dst, p.at(v("i"), p.dk) + v("d")), fmul(.load(src, srcB + v("d") * .int(p.chunk) + v("i")), .float(scale)))),
        ])])
    }
}
