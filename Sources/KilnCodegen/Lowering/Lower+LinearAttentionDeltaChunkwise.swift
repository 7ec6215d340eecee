import KilnIR

extension LowerContext {
    /// One DeltaNet chunk in the WY/UT form (reference/chunkwise.md §1d), n rows:
    ///   An = −strict_lower(diag(β) K Kᵀ);  solve (I − An) [Wn | U] = [−β ⊙ K | β ⊙ V]
    ///   by blocked forward substitution (16-row blocks: a matmul against the solved rows above,
    ///   then substitution inside the block), so Wn = −W and U = T (β ⊙ V) with T = (I + A)^-1;
    ///   V_new = U + Wn S;  O = scale Q S + (scale Q Kᵀ ⊙ M) V_new;  S ← S + Kᵀ V_new.
    mutating func deltaChunkForward(_ p: ChunkwisePlan) -> [KStmt] {
        let (dk, dv, c) = (p.dk, p.dv, p.chunk)
        let sub = 16
        let qa = temp("la.q", elements: p.bsz * p.h * c * dk)     // scale·Q
        let kt = temp("la.kt", elements: p.bsz * p.h * dk * c)    // Kᵀ
        let wn = temp("la.w", elements: p.bsz * p.h * c * dk)     // −β ⊙ K, then Wn in place
        let u = temp("la.u", elements: p.bsz * p.h * c * dv)      // β ⊙ V, then U, then V_new
        let oc = temp("la.o", elements: p.bsz * p.h * c * dv)
        let am = temp("la.a", elements: p.bsz * p.h * c * c)
        let (qB, kB, vB, aB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * dv), p.scratch(c * c))
        let sb: KExpr = v("sb")
        var body: [KStmt] = [.loop("i", v("n"), parallel: false, [
            .variable("beta", .load(p.g!, p.at(v("i"), 1))),
            .loop("d", .int(dk), parallel: false, [
                .variable("kv", .load(p.k, p.at(v("i"), dk) + v("d"))),
                .store(qa, qB + v("i") * .int(dk) + v("d"), fmul(.load(p.q, p.at(v("i"), dk) + v("d")), .float(p.scale))),
                .store(kt, kB + v("d") * .int(c) + v("i"), .fvar("kv")),
                .store(wn, qB + v("i") * .int(dk) + v("d"), fmul(.fvar("kv"), fmul(.fvar("beta"), .float(-1)))),
            ]),
            .loop("j", .int(dv), parallel: false, [
                .store(u, vB + v("i") * .int(dv) + v("j"), fmul(.load(p.val, p.at(v("i"), dv) + v("j")), .fvar("beta"))),
            ]),
        ])]
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
        // V_new = U + Wn S.
        body += tileMatmul("ws", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: wn, offset: qB, ld: .int(dk)),
                            b: MatrixSlice(buffer: p.state, offset: sb, ld: .int(dv)), c: MatrixSlice(buffer: u, offset: vB, ld: .int(dv)),
                            accumulate: true)
        // O = scale Q S + (scale Q Kᵀ ⊙ M) V_new.
        body += tileMatmul("os", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: qa, offset: qB, ld: .int(dk)),
                            b: MatrixSlice(buffer: p.state, offset: sb, ld: .int(dv)), c: MatrixSlice(buffer: oc, offset: vB, ld: .int(dv)),
                            accumulate: false)
        body += plainScores(p, qa: qa, kt: kt, am: am, cumAt: { _, _ in .float(0) })
        body += tileMatmul("av", m: v("n"), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: am, offset: aB, ld: .int(c)),
                            b: MatrixSlice(buffer: u, offset: vB, ld: .int(dv)), c: MatrixSlice(buffer: oc, offset: vB, ld: .int(dv)),
                            accumulate: true)
        // S ← S + Kᵀ V_new.
        body += tileMatmul("kv", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)),
                            b: MatrixSlice(buffer: u, offset: vB, ld: .int(dv)), c: MatrixSlice(buffer: p.state, offset: sb, ld: .int(dv)),
                            accumulate: true)
        body.append(.loop("i", v("n"), parallel: false, [
            .loop("j", .int(dv), parallel: false, [.store(p.o, p.at(v("i"), dv) + v("j"), .load(oc, vB + v("i") * .int(dv) + v("j")))]),
        ]))
        return body
    }
}
