import KilnIR

extension LowerContext {
    /// The recurrent form, parallel over (batch, head): the state (Dk x Dv) is updated token by
    /// token and the output reads it after the update (IR/semantics.md). Chunkwise schedules
    /// come with the linear-attention scheduling pass.
    mutating func lowerLinearAttention(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) {
        let a = node.attributes
        if a.bool("parallel") {
            lowerLinearAttentionChunkwise(node, ins, inT, outs, parallel: true)
            return
        }
        if a.int("chunk") > 0 {
            lowerLinearAttentionChunkwise(node, ins, inT, outs)
            return
        }
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        let qs = inT[0].shape, dv = inT[2].shape[3]
        let (bsz, tl, h, dk) = (qs[0], qs[1], qs[2], qs[3])
        let (q, k, val) = (ins[0], ins[1], ins[2])
        let g: Int? = gate.hasGateOperand ? ins[3] : nil
        let h0: Int? = ins.count > (gate.hasGateOperand ? 4 : 3) ? ins.last : nil
        let state = a.bool("final_state") ? outs[1] : temp("la.state", elements: bsz * h * dk * dv)
        let u = gate == .delta ? temp("la.u", elements: bsz * h * dv) : -1
        let scale = Float(a.float("scale"))
        let sAt = { (i: KExpr, j: KExpr) -> KExpr in v("sb") + i * .int(dv) + j }
        var step: [KStmt] = [
            .letInt("row", (v("b") * .int(tl) + v("t")) * .int(h) + v("hh")),
            .letInt("qo", v("row") * .int(dk)),
            .letInt("vo", v("row") * .int(dv)),
        ]
        switch gate {
        case .none:
            break
        case .scalar:
            step.append(.variable("decay", .call(.exp, .load(g!, v("row")))))
            step.append(.loop("e", .int(dk * dv), parallel: false, [.store(state, v("sb") + v("e"), fmul(.load(state, v("sb") + v("e")), .fvar("decay")))]))
        case .key:
            step.append(.loop("i", .int(dk), parallel: false, [
                .variable("decay", .call(.exp, .load(g!, v("qo") + v("i")))),
                .loop("j", .int(dv), parallel: false, [.store(state, sAt(v("i"), v("j")), fmul(.load(state, sAt(v("i"), v("j"))), .fvar("decay")))]),
            ]))
        case .delta:
            // u = beta (v - S^T k), accumulated row by row of S so the inner loop is contiguous.
            step.append(.loop("j", .int(dv), parallel: false, [.store(u, v("ub") + v("j"), .float(0))]))
            step.append(.loop("i", .int(dk), parallel: false, [
                .variable("ki", .load(k, v("qo") + v("i"))),
                .loop("j", .int(dv), parallel: false, [.store(u, v("ub") + v("j"), fadd(.load(u, v("ub") + v("j")), fmul(.load(state, sAt(v("i"), v("j"))), .fvar("ki"))))]),
            ]))
            step.append(.variable("beta", .load(g!, v("row"))))
            step.append(.loop("j", .int(dv), parallel: false, [.store(u, v("ub") + v("j"), fmul(.fvar("beta"), fsub(.load(val, v("vo") + v("j")), .load(u, v("ub") + v("j")))))]))
        }
        let addend: KExpr = gate == .delta ? .load(u, v("ub") + v("j")) : .load(val, v("vo") + v("j"))
        step.append(.loop("i", .int(dk), parallel: false, [
            .variable("ki", .load(k, v("qo") + v("i"))),
            .loop("j", .int(dv), parallel: false, [.store(state, sAt(v("i"), v("j")), fadd(.load(state, sAt(v("i"), v("j"))), fmul(.fvar("ki"), addend)))]),
        ]))
        step.append(.loop("j", .int(dv), parallel: false, [.store(outs[0], v("vo") + v("j"), .float(0))]))
        step.append(.loop("i", .int(dk), parallel: false, [
            .variable("qi", fmul(.load(q, v("qo") + v("i")), .float(scale))),
            .loop("j", .int(dv), parallel: false, [.store(outs[0], v("vo") + v("j"), fadd(.load(outs[0], v("vo") + v("j")), fmul(.load(state, sAt(v("i"), v("j"))), .fvar("qi"))))]),
        ]))
        kernel("linear_attention_\(gate)", parallel: bsz * h, [.loop("bh", .int(bsz * h), parallel: true, [
            .letInt("b", v("bh") / .int(h)),
            .letInt("hh", v("bh") % .int(h)),
            .letInt("sb", v("bh") * .int(dk * dv)),
            .letInt("ub", v("bh") * .int(dv)),
            .loop("e", .int(dk * dv), parallel: false, [.store(state, v("sb") + v("e"), h0.map { .load($0, v("sb") + v("e")) } ?? .float(0))]),
            .loop("t", .int(tl), parallel: false, step),
        ])])
    }
}
