import KilnIR

extension LowerContext {
    /// Chunk-local cumulative gates of the chunk, e^{b_C} per key dim into `carry`, and the decays
    /// e^{B} (`eq`, only if `queries`) and e^{b_C − B} (`ek`), all ≤ 1. Per-key gates make one exp
    /// per (row, key dim): the steps e^{B_i − B_{i−1}} (kept in `steps` for the scores and the
    /// intra-chunk backward), with the decays as running products of them, as in the forward.
    /// Products of factors ≤ 1 can only underflow.
    func backwardGateFactors(_ p: ChunkwisePlan, _ s: ChunkScratch, width: Int, queries: Bool) -> [KStmt] {
        guard p.gate != .none else { return [] }
        let cB = p.scratch(p.chunk * width), wB = p.scratch(width)
        let at = { (i: KExpr) -> KExpr in cB + i * .int(width) + v("d") }
        let cumAt = { (i: KExpr) -> KExpr in .load(s.cum, at(i)) }
        var body = cumulativeGates(p, into: s.cum, width: width)
        body.append(.loop("d", .int(width), parallel: false, [.store(s.carry, wB + v("d"), .call(.exp_nonpositive, cumAt(v("n") - 1)))]))
        guard p.gate == .key else {
            body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(width), parallel: false, [
                .store(s.eq, at(v("i")), .call(.exp_nonpositive, cumAt(v("i")))),
                .store(s.ek, at(v("i")), .call(.exp_nonpositive, fsub(cumAt(v("n") - 1), cumAt(v("i"))))),
            ])]))
            return body
        }
        var products: [KStmt] = [.store(s.ek, at(v("ir")), fmul(.load(s.ek, at(v("ir") + 1)), .load(s.steps, at(v("ir") + 1))))]
        var first: [KStmt] = [.store(s.ek, at(v("n") - 1), .float(1))]
        if queries {
            products.append(.store(s.eq, at(v("i")), fmul(.load(s.eq, at(v("i1"))), .load(s.steps, at(v("i"))))))
            first.append(.store(s.eq, at(0), .call(.exp_nonpositive, cumAt(0))))
        }
        return body + [
            .loop("i", v("n"), parallel: false, [.loop("d", .int(width), parallel: false, [
                .store(s.steps, at(v("i")), .call(.exp_nonpositive, fsub(cumAt(v("i")), cumAt(.iop(.max, v("i") - 1, 0))))),
            ])]),
            .loop("d", .int(width), parallel: false, first),
            .loop("i1", v("n") - 1, parallel: false, [
                .letInt("i", v("i1") + 1),
                .letInt("ir", v("n") - 2 - v("i1")),
                .loop("d", .int(width), parallel: false, products),
            ]),
        ]
    }

    /// e^{b_C} for key dimension `d` (the state's decay over the whole chunk), from `carry`.
    func lastDecay(_ p: ChunkwisePlan, _ s: ChunkScratch, width: Int) -> KExpr {
        .load(s.carry, p.scratch(width) + (width == 1 ? 0 : v("d")))
    }

    /// kd = K ⊙ e^{b_C − B} (row-major); with `all`, also qg = scale Q ⊙ e^B, and qa = scale Q and
    /// Kᵀ when the scores read them (per-key-gate scores read Q and K in place). `perRow` runs
    /// after each row (prefetches).
    func gather(_ p: ChunkwisePlan, _ s: ChunkScratch, width: Int, all: Bool, perRow: [KStmt] = []) -> [KStmt] {
        let (dk, c) = (p.dk, p.chunk)
        let (qB, kB, fB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * width))
        let decay = { (buf: Int) -> KExpr in p.gate == .none ? .float(1) : .load(buf, fB + v("i") * .int(width) + (width == 1 ? 0 : v("d"))) }
        var rows: [KStmt] = [.store(s.kd, qB + v("i") * .int(dk) + v("d"), fmul(.load(p.k, p.at(v("i"), dk) + v("d")), decay(s.ek)))]
        if all {
            rows.append(.variable("qv", fmul(.load(p.q, p.at(v("i"), dk) + v("d")), .float(p.scale))))
            if p.gate != .key { rows.append(.store(s.qa, qB + v("i") * .int(dk) + v("d"), .fvar("qv"))) }
            rows.append(.store(s.qg, qB + v("i") * .int(dk) + v("d"), fmul(.fvar("qv"), decay(s.eq))))
        }
        var body: [KStmt] = [.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, rows)] + perRow)]
        if all {
            // Transposed copies through register shuffles (a strided store loop scatters).
            if p.gate != .key {
                body.append(.transpose(TileTranspose(rows: v("n"), cols: .int(dk), src: p.k, srcOffset: p.at(0, dk), srcLd: .int(p.h * dk),
                                                     dst: s.kt, dstOffset: kB, dstLd: .int(c))))
            }
        }
        return body
    }
}
