import KilnIR

extension LowerContext {
    /// One DeltaNet chunk in the WY/UT form (reference/chunkwise.md §1d), n rows:
    ///   An = −strict_lower(diag(β) K Kᵀ);  solve (I − An) [Wn | U] = [−β ⊙ K | β ⊙ V]
    ///   by blocked forward substitution (16-row blocks: a matmul against the solved rows above,
    ///   then substitution inside the block), so Wn = −W and U = T (β ⊙ V) with T = (I + A)^-1;
    ///   V_new = U + Wn S;  O = scale Q S + (scale Q Kᵀ ⊙ M) V_new;  S ← S + Kᵀ V_new.
    mutating func deltaChunkForward(_ p: ChunkwisePlan) -> [KStmt] {
        let (dk, dv, c) = (p.dk, p.dv, p.chunk)
        let ut = DeltaUT(qa: temp("la.q", elements: p.bsz * p.h * c * dk), kt: temp("la.kt", elements: p.bsz * p.h * dk * c),
                         wn: temp("la.w", elements: p.bsz * p.h * c * dk), u: temp("la.u", elements: p.bsz * p.h * c * dv),
                         an: temp("la.a", elements: p.bsz * p.h * c * c), kb: nil)
        let (qa, kt, wn, u, am) = (ut.qa, ut.kt, ut.wn, ut.u, ut.an)   // u becomes V_new in place; am the scores after the solve
        let oRows = MatrixSlice(buffer: p.o, offset: p.at(0, dv), ld: .int(p.h * dv))   // O written in place
        let (qB, kB, vB, aB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * dv), p.scratch(c * c))
        let sb: KExpr = v("sb")
        var body = deltaUT(p, ut, prefetch: true)
        // V_new = U + Wn S.
        body += tileMatmul("ws", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: wn, offset: qB, ld: .int(dk)),
                            b: MatrixSlice(buffer: p.state, offset: sb, ld: .int(p.ldS)), c: MatrixSlice(buffer: u, offset: vB, ld: .int(dv)),
                            accumulate: true)
        // O = scale Q S + (scale Q Kᵀ ⊙ M) V_new.
        body += tileMatmul("os", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: qa, offset: qB, ld: .int(dk)),
                            b: MatrixSlice(buffer: p.state, offset: sb, ld: .int(p.ldS)), c: oRows, accumulate: false)
        body += plainScores(p, qa: qa, kt: kt, am: am, cumAt: { _, _ in .float(0) })
        body += causalScoresTimes(p, am: am, b: MatrixSlice(buffer: u, offset: vB, ld: .int(dv)), c: oRows)
        // S ← S + Kᵀ V_new.
        body += tileMatmul("kv", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)),
                            b: MatrixSlice(buffer: u, offset: vB, ld: .int(dv)), c: MatrixSlice(buffer: p.state, offset: sb, ld: .int(p.ldS)),
                            accumulate: true)
        return body
    }

    /// Gathers scale·Q, Kᵀ, −β ⊙ K (and β ⊙ K into `kb` when given), builds An and solves for
    /// Wn and U in place by blocked forward substitution. With `prefetch`, each gathered row also
    /// prefetches a row of the next chunk's Q, K, V and O (see `prefetchNextChunkRow`): without it
    /// the DeltaNet forward took 18.4x as long at T = 64k as at T = 4k (2 threads), when the
    /// operands no longer stay in L3 between runs.
    func deltaUT(_ p: ChunkwisePlan, _ ut: DeltaUT, prefetch: Bool = false) -> [KStmt] {
        let (dk, dv, c) = (p.dk, p.dv, p.chunk)
        let sub = 16
        let (qa, kt, wn, u, am) = (ut.qa, ut.kt, ut.wn, ut.u, ut.an)
        let (qB, kB, vB, aB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * dv), p.scratch(c * c))
        var body: [KStmt] = [.loop("i", v("n"), parallel: false, [
            .variable("beta", .load(p.g!, p.at(v("i"), 1))),
            .loop("d", .int(dk), parallel: false, [
                .variable("kv", .load(p.k, p.at(v("i"), dk) + v("d"))),
                .store(qa, qB + v("i") * .int(dk) + v("d"), fmul(.load(p.q, p.at(v("i"), dk) + v("d")), .float(p.scale))),
                .store(kt, kB + v("d") * .int(c) + v("i"), .fvar("kv")),
                .store(wn, qB + v("i") * .int(dk) + v("d"), fmul(.fvar("kv"), fmul(.fvar("beta"), .float(-1)))),
            ] + (ut.kb.map { [.store($0, qB + v("i") * .int(dk) + v("d"), fmul(.fvar("kv"), .fvar("beta")))] } ?? [])),
            .loop("j", .int(dv), parallel: false, [
                .store(u, vB + v("i") * .int(dv) + v("j"), fmul(.load(p.val, p.at(v("i"), dv) + v("j")), .fvar("beta"))),
            ]),
        ] + (prefetch ? prefetchNextChunkRow(p, row: v("i")) : []))]
        // An = (−β ⊙ K) Kᵀ; only the strict lower triangle is read.
        body += tileMatmul("kk", m: v("n"), n: v("n"), k: .int(dk), a: MatrixSlice(buffer: wn, offset: qB, ld: .int(dk)),
                            b: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)), c: MatrixSlice(buffer: am, offset: aB, ld: .int(c)),
                            accumulate: false)
        // Blocked forward substitution on the rows of [Wn | U].
        var block: [KStmt] = [
            .letInt("i0", v("sc") * .int(sub)),
            .letInt("ni", .iop(.min, .int(sub), v("n") - v("i0"))),
        ]
        for (name, buf, width, base) in [("w", wn, dk, qB), ("u", u, dv, vB)] {
            block += tileMatmul("fs\(name)", m: v("ni"), n: .int(width), k: v("i0"),
                                 a: MatrixSlice(buffer: am, offset: aB + v("i0") * .int(c), ld: .int(c)),
                                 b: MatrixSlice(buffer: buf, offset: base, ld: .int(width)),
                                 c: MatrixSlice(buffer: buf, offset: base + v("i0") * .int(width), ld: .int(width)), accumulate: true)
        }
        let row = { (i: KExpr, width: Int, base: KExpr, col: KExpr) -> KExpr in base + (v("i0") + i) * .int(width) + col }
        block.append(.loop("i", v("ni"), parallel: false, [.loop("j", v("i"), parallel: false, [
            .variable("aij", .load(am, aB + (v("i0") + v("i")) * .int(c) + v("i0") + v("j"))),
            .loop("d", .int(dk), parallel: false, [
                .store(wn, row(v("i"), dk, qB, v("d")), fadd(.load(wn, row(v("i"), dk, qB, v("d"))), fmul(.fvar("aij"), .load(wn, row(v("j"), dk, qB, v("d")))))),
            ]),
            .loop("e", .int(dv), parallel: false, [
                .store(u, row(v("i"), dv, vB, v("e")), fadd(.load(u, row(v("i"), dv, vB, v("e"))), fmul(.fvar("aij"), .load(u, row(v("j"), dv, vB, v("e")))))),
            ]),
        ])]))
        body.append(.loop("sc", (v("n") + .int(sub - 1)) / .int(sub), parallel: false, block))
        return body
    }

    /// Buffers of the UT transform: scale·Q, Kᵀ, Wn (c x Dk), U (c x Dv), An (c x c), β ⊙ K.
    struct DeltaUT {
        var qa, kt, wn, u, an: Int
        var kb: Int?
    }
}
