import KilnIR

extension LowerContext {
    /// Reverse of the recurrence, parallel over (batch, head): recompute and keep every state,
    /// then walk t backward carrying dS (as the interpreter does; IR/semantics.md).
    mutating func lowerLinearAttentionBackward(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int]) {
        let a = node.attributes
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        if a.int("chunk") > 0 {
            if gate == .delta { lowerDeltaChunkwiseBackward(node, ins, inT, outs) } else { lowerLinearAttentionChunkwiseBackward(node, ins, inT, outs) }
            return
        }
        let hasH0 = a.bool("has_h0")
        let qs = inT[0].shape, dv = inT[2].shape[3]
        let (bsz, tl, h, dk) = (qs[0], qs[1], qs[2], qs[3])
        let n = dk * dv, bh = bsz * h
        let (q, k, val) = (ins[0], ins[1], ins[2])
        let g: Int? = gate.hasGateOperand ? ins[3] : nil
        let nf = 3 + (gate.hasGateOperand ? 1 : 0) + (hasH0 ? 1 : 0)
        let h0: Int? = hasH0 ? ins[nf - 1] : nil
        let (dout, dstate) = (ins[nf], ins[nf + 1])
        let (dq, dkb, dvb) = (outs[0], outs[1], outs[2])
        let dg: Int? = gate.hasGateOperand ? outs[3] : nil
        let dh0: Int? = hasH0 ? outs.last : nil
        let states = temp("la.states", elements: bh * (tl + 1) * n)
        let us = temp("la.u", elements: max(bh * tl * dv, 1))
        let ds = temp("la.dS", elements: bh * n)
        let dx = temp("la.dx", elements: bh * dv)
        let scale = Float(a.float("scale"))
        let st: (KExpr, KExpr) -> KExpr = { t, i in (v("bh") * .int(tl + 1) + t) * .int(n) + i }  // states[t][i]
        let dsAt: (KExpr) -> KExpr = { i in v("bh") * .int(n) + i }
        let uAt: (KExpr) -> KExpr = { j in (v("bh") * .int(tl) + v("t")) * .int(dv) + j }
        let dxAt: (KExpr) -> KExpr = { j in v("bh") * .int(dv) + j }
        let ij: KExpr = v("i") * .int(dv) + v("j")
        let rowDefs: [KStmt] = [
            .letInt("row", (v("b") * .int(tl) + v("t")) * .int(h) + v("hh")),
            .letInt("qo", v("row") * .int(dk)), .letInt("vo", v("row") * .int(dv)),
        ]
        // Forward: states[t+1] from states[t].
        var fwd: [KStmt] = rowDefs + [.loop("e", .int(n), parallel: false, [.store(states, st(v("t") + 1, v("e")), .load(states, st(v("t"), v("e"))))])]
        switch gate {
        case .none: break
        case .scalar:
            fwd += [.variable("d", .call(.exp, .load(g!, v("row")))),
                    .loop("e", .int(n), parallel: false, [.store(states, st(v("t") + 1, v("e")), fmul(.load(states, st(v("t") + 1, v("e"))), .fvar("d")))])]
        case .key:
            fwd += [.loop("i", .int(dk), parallel: false, [.variable("d", .call(.exp, .load(g!, v("qo") + v("i")))),
                .loop("j", .int(dv), parallel: false, [.store(states, st(v("t") + 1, ij), fmul(.load(states, st(v("t") + 1, ij)), .fvar("d")))])])]
        case .delta:
            fwd += [.loop("j", .int(dv), parallel: false, [
                .variable("w", .float(0)),
                .loop("i", .int(dk), parallel: false, [.assign("w", fadd(.fvar("w"), fmul(.load(states, st(v("t"), ij)), .load(k, v("qo") + v("i")))))]),
                .store(us, uAt(v("j")), fmul(.load(g!, v("row")), fsub(.load(val, v("vo") + v("j")), .fvar("w")))),
            ])]
        }
        let xj: KExpr = gate == .delta ? .load(us, uAt(v("j"))) : .load(val, v("vo") + v("j"))
        fwd.append(.loop("i", .int(dk), parallel: false, [.loop("j", .int(dv), parallel: false, [
            .store(states, st(v("t") + 1, ij), fadd(.load(states, st(v("t") + 1, ij)), fmul(.load(k, v("qo") + v("i")), xj))),
        ])]))
        // Backward step t.
        var bwd: [KStmt] = rowDefs + [
            .loop("i", .int(dk), parallel: false, [
                .variable("acc", .float(0)),
                .loop("j", .int(dv), parallel: false, [
                    .assign("acc", fadd(.fvar("acc"), fmul(.load(states, st(v("t") + 1, ij)), .load(dout, v("vo") + v("j"))))),
                    .store(ds, dsAt(ij), fadd(.load(ds, dsAt(ij)), fmul(.float(scale), fmul(.load(q, v("qo") + v("i")), .load(dout, v("vo") + v("j")))))),
                ]),
                .store(dq, v("qo") + v("i"), fadd(.load(dq, v("qo") + v("i")), fmul(.float(scale), .fvar("acc")))),
            ]),
            .loop("j", .int(dv), parallel: false, [.store(dx, dxAt(v("j")), .float(0))]),
            .loop("i", .int(dk), parallel: false, [
                .variable("acc", .float(0)),
                .loop("j", .int(dv), parallel: false, [
                    .assign("acc", fadd(.fvar("acc"), fmul(.load(ds, dsAt(ij)), xj))),
                    .store(dx, dxAt(v("j")), fadd(.load(dx, dxAt(v("j"))), fmul(.load(ds, dsAt(ij)), .load(k, v("qo") + v("i"))))),
                ]),
                .store(dkb, v("qo") + v("i"), fadd(.load(dkb, v("qo") + v("i")), .fvar("acc"))),
            ]),
        ]
        let addDx: KStmt = .loop("j", .int(dv), parallel: false, [.store(dvb, v("vo") + v("j"), fadd(.load(dvb, v("vo") + v("j")), .load(dx, dxAt(v("j")))))])
        switch gate {
        case .none:
            bwd.append(addDx)
        case .scalar:
            bwd += [addDx, .variable("d", .call(.exp, .load(g!, v("row")))), .variable("acc", .float(0)),
                    .loop("e", .int(n), parallel: false, [
                        .assign("acc", fadd(.fvar("acc"), fmul(.load(ds, dsAt(v("e"))), .load(states, st(v("t"), v("e")))))),
                        .store(ds, dsAt(v("e")), fmul(.load(ds, dsAt(v("e"))), .fvar("d"))),
                    ]),
                    .store(dg!, v("row"), fadd(.load(dg!, v("row")), fmul(.fvar("d"), .fvar("acc"))))]
        case .key:
            bwd += [addDx, .loop("i", .int(dk), parallel: false, [
                .variable("d", .call(.exp, .load(g!, v("qo") + v("i")))), .variable("acc", .float(0)),
                .loop("j", .int(dv), parallel: false, [
                    .assign("acc", fadd(.fvar("acc"), fmul(.load(ds, dsAt(ij)), .load(states, st(v("t"), ij))))),
                    .store(ds, dsAt(ij), fmul(.load(ds, dsAt(ij)), .fvar("d"))),
                ]),
                .store(dg!, v("qo") + v("i"), fadd(.load(dg!, v("qo") + v("i")), fmul(.fvar("d"), .fvar("acc")))),
            ])]
        case .delta:
            bwd += [.variable("beta", .load(g!, v("row"))), .variable("db", .float(0)),
                .loop("j", .int(dv), parallel: false, [
                    .variable("w", .float(0)),
                    .loop("i", .int(dk), parallel: false, [.assign("w", fadd(.fvar("w"), fmul(.load(states, st(v("t"), ij)), .load(k, v("qo") + v("i")))))]),
                    .assign("db", fadd(.fvar("db"), fmul(.load(dx, dxAt(v("j"))), fsub(.load(val, v("vo") + v("j")), .fvar("w"))))),
                    .store(dvb, v("vo") + v("j"), fadd(.load(dvb, v("vo") + v("j")), fmul(.fvar("beta"), .load(dx, dxAt(v("j")))))),
                ]),
                .store(dg!, v("row"), fadd(.load(dg!, v("row")), .fvar("db"))),
                .loop("i", .int(dk), parallel: false, [
                    .variable("acc", .float(0)),
                    .loop("j", .int(dv), parallel: false, [
                        .assign("acc", fadd(.fvar("acc"), fmul(.load(states, st(v("t"), ij)), .load(dx, dxAt(v("j")))))),
                        .store(ds, dsAt(ij), fsub(.load(ds, dsAt(ij)), fmul(fmul(.fvar("beta"), .load(dx, dxAt(v("j")))), .load(k, v("qo") + v("i"))))),
                    ]),
                    .store(dkb, v("qo") + v("i"), fsub(.load(dkb, v("qo") + v("i")), fmul(.fvar("beta"), .fvar("acc")))),
                ])]
        }
        // Zero this (batch, head)'s slices of the outputs, run forward then backward.
        var body: [KStmt] = [
            .letInt("b", v("bh") / .int(h)), .letInt("hh", v("bh") % .int(h)),
            .loop("t", .int(tl), parallel: false, rowDefs + [
                .loop("i", .int(dk), parallel: false, [.store(dq, v("qo") + v("i"), .float(0)), .store(dkb, v("qo") + v("i"), .float(0))]
                      + (gate == .key ? [.store(dg!, v("qo") + v("i"), .float(0))] : [])),
                .loop("j", .int(dv), parallel: false, [.store(dvb, v("vo") + v("j"), .float(0))]),
            ] + (gate == .scalar || gate == .delta ? [.store(dg!, v("row"), .float(0))] : [])),
            .loop("e", .int(n), parallel: false, [
                .store(states, st(0, v("e")), h0.map { .load($0, v("bh") * .int(n) + v("e")) } ?? .float(0)),
                .store(ds, dsAt(v("e")), .load(dstate, v("bh") * .int(n) + v("e"))),
            ]),
            .loop("t", .int(tl), parallel: false, fwd),
            .loop("s", .int(tl), parallel: false, [.letInt("t", .int(tl - 1) - v("s"))] + bwd),
        ]
        if let dh0 { body.append(.loop("e", .int(n), parallel: false, [.store(dh0, v("bh") * .int(n) + v("e"), .load(ds, dsAt(v("e"))))])) }
        kernel("linear_attention_bwd_\(gate)", parallel: bh, [.loop("bh", .int(bh), parallel: true, body)])
    }
}
