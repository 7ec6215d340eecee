import KilnIR

extension LowerContext {
    /// Chunkwise linear_attention_backward for gates none / scalar / key (reference/chunkwise.md
    /// §2), parallel over (batch, head). Phase 1 recomputes the state (transposed, Sᵀ, in fp32)
    /// at every chunk boundary, unless the forward saved them (`saved_states`: the last operand
    /// holds them, and phase 1 is left out); phase 2 walks the chunks backward carrying dS from
    /// the final-state cotangent down to dh0. Per chunk, with the scores A (as in the forward), dA = dO Vᵀ,
    /// Qg = scale Q ⊙ e^B and Kd = K ⊙ e^{b_C − B}:
    ///   dV = Aᵀ dO + Kd dS;  dQ = scale (dO Sᵀ) ⊙ e^B + intra;  dK = (V dSᵀ) ⊙ e^{b_C − B} + intra;
    ///   dB from every pair term (no Q⊙dQ − K⊙dK cancellation), dg = reverse cumsum of dB;
    ///   dS ← e^{b_C} ⊙ dS + Qgᵀ dO.
    mutating func lowerLinearAttentionChunkwiseBackward(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int]) {
        let a = node.attributes
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        let hasH0 = a.bool("has_h0")
        let qs = inT[0].shape, dv = inT[2].shape[3]
        let (bsz, tl, h, dk) = (qs[0], qs[1], qs[2], qs[3])
        let nf = 3 + (gate.hasGateOperand ? 1 : 0) + (hasH0 ? 1 : 0)
        let p = ChunkwisePlan(gate: gate, bsz: bsz, tl: tl, h: h, dk: dk, dv: dv, chunk: min(a.int("chunk"), tl),
                              scale: Float(a.float("scale")), q: ins[0], k: ins[1], val: ins[2],
                              g: gate.hasGateOperand ? ins[3] : nil, h0: hasH0 ? ins[nf - 1] : nil, o: -1, state: -1)
        let grads = ChunkGrads(dout: ins[nf], dstate: ins[nf + 1], dq: outs[0], dk: outs[1], dv: outs[2],
                               dg: gate.hasGateOperand ? outs[3] : nil, dh0: hasH0 ? outs.last : nil)
        let n = dk * dv, c = p.chunk, width = gate == .key ? dk : 1
        let saved = a.bool("saved_states")
        let states = saved ? ins[nf + 2] : temp("la.states", elements: bsz * h * p.chunks * n)
        let ds = temp("la.dS", elements: bsz * h * n)
        let buf = ChunkScratch(
            cum: temp("la.cum", elements: bsz * h * c * width), eq: temp("la.eq", elements: bsz * h * c * width),
            ek: temp("la.ek", elements: bsz * h * c * width), qa: temp("la.q", elements: bsz * h * c * dk),
            qg: temp("la.qg", elements: bsz * h * c * dk), kd: temp("la.kd", elements: bsz * h * c * dk),
            kt: temp("la.kt", elements: bsz * h * dk * c + 16), am: temp("la.a", elements: bsz * h * c * c + 16),
            dot: temp("la.doT", elements: bsz * h * dv * c),
            da: temp("la.dAT", elements: bsz * h * c * c), dp: temp("la.dP", elements: bsz * h * c * c),
            tmp: temp("la.tmp", elements: bsz * h * c * dk),
            db: temp("la.dB", elements: bsz * h * c * width), dbLast: temp("la.dBlast", elements: bsz * h * width),
            steps: temp("la.steps", elements: bsz * h * c * width), carry: temp("la.carry", elements: bsz * h * width),
            dor: temp("la.dO", elements: bsz * h * c * dv), dsT: temp("la.dST", elements: bsz * h * n))
        let sb: KExpr = v("bh") * .int(n)
        let stateAt: KExpr = (v("bh") * .int(p.chunks) + v("c")) * .int(n)
        let nextAt: KExpr = stateAt + .int(n)
        var body: [KStmt] = [.letInt("b", v("bh") / .int(h)), .letInt("hh", v("bh") % .int(h)), .letInt("sb", sb)]
        if !saved {
            // Sᵀ before chunk 0 is h0ᵀ.
            body.append(.loop("d", .int(dk), parallel: false, [.loop("j", .int(dv), parallel: false, [
                .store(states, v("bh") * .int(p.chunks * n) + v("j") * .int(dk) + v("d"), p.h0.map { .load($0, sb + v("d") * .int(dv) + v("j")) } ?? .float(0)),
            ])]))
        }
        let chunkHead: [KStmt] = [.letInt("c0", v("c") * .int(c)), .letInt("n", .iop(.min, .int(c), .int(tl) - v("c0")))]
        // Phase 1: Sᵀ before chunk c + 1 straight into `states`: Sᵀ ⊙ e^{b_C} + Vᵀ Kd (no copy of
        // a running state; none after the last chunk). It reads K, G and V of each chunk; the next
        // chunk's rows are prefetched from the gather loop.
        var ahead: [(Int, Int)] = [(p.k, dk), (p.val, dv)]
        if gate == .key { ahead.append((p.g!, dk)) }
        var fwd: [KStmt] = chunkHead + backwardGateFactors(p, buf, width: width, queries: false)
            + gather(p, buf, width: width, all: false, perRow: prefetchChunkRow(p, row: v("i"), chunksAhead: 1, ahead))
        let decayed: KExpr = gate == .none ? .load(states, stateAt + v("e")) : fmul(.load(states, stateAt + v("j") * .int(dk) + v("d")), lastDecay(p, buf, width: width))
        var next: [KStmt]
        if gate == .none {
            next = [.loop("e", .int(n), parallel: false, [.store(states, nextAt + v("e"), decayed)])]
        } else {
            next = [.loop("j", .int(dv), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(states, nextAt + v("j") * .int(dk) + v("d"), decayed),
            ])])]
        }
        next += tileMatmul("sv", m: .int(dv), n: .int(dk), k: v("n"),
                           a: MatrixSlice(buffer: p.val, offset: p.at(0, dv), ld: 1, colStride: .int(h * dv)),
                           b: MatrixSlice(buffer: buf.kd, offset: v("bh") * .int(c * dk), ld: .int(dk)),
                           c: MatrixSlice(buffer: states, offset: nextAt, ld: .int(dk)), accumulate: true)
        fwd.append(.ifThen(.ilt(v("c"), .int(p.chunks - 1)), next))
        if !saved { body.append(.loop("c", .int(p.chunks), parallel: false, fwd)) }
        // Phase 2.
        body.append(.loop("e", .int(n), parallel: false, [.store(ds, sb + v("e"), .load(grads.dstate, sb + v("e")))]))
        var bwd: [KStmt] = [.letInt("c", .int(p.chunks - 1) - v("cr"))] + chunkHead
        bwd += backwardGateFactors(p, buf, width: width, queries: true) + gather(p, buf, width: width, all: true)
        // The inter-chunk dQ = scale (dO Sᵀ) ⊙ e^B into dq; chunkBackward adds the intra part.
        bwd += tileMatmul("dqs", m: v("n"), n: .int(dk), k: .int(dv), a: MatrixSlice(buffer: grads.dout, offset: p.at(0, dv), ld: .int(h * dv)),
                          b: MatrixSlice(buffer: states, offset: stateAt, ld: .int(dk)),
                          c: MatrixSlice(buffer: grads.dq, offset: p.at(0, dk), ld: .int(h * dk)), accumulate: false)
        let eqAt: KExpr = gate == .none ? .float(p.scale) : fmul(.load(buf.eq, p.scratch(c * width) + v("i") * .int(width) + (width == 1 ? 0 : v("d"))), .float(p.scale))
        bwd.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .store(grads.dq, p.at(v("i"), dk) + v("d"), fmul(.load(grads.dq, p.at(v("i"), dk) + v("d")), eqAt)),
        ])]))
        bwd += chunkBackward(p, buf, grads, states: states, stateAt: stateAt, ds: ds, width: width)
        body.append(.loop("cr", .int(p.chunks), parallel: false, bwd))
        if let dh0 = grads.dh0 { body.append(.loop("e", .int(n), parallel: false, [.store(dh0, sb + v("e"), .load(ds, sb + v("e")))])) }
        kernel("linear_attention_chunkwise_bwd_\(gate)", parallel: bsz * h, [.loop("bh", .int(bsz * h), parallel: true, body)])
    }

    /// Gradient operand and result buffers.
    struct ChunkGrads {
        var dout: Int, dstate: Int, dq: Int, dk: Int, dv: Int, dg: Int?, dh0: Int?
    }

    /// Per-(batch, head) scratch of the chunkwise backward.
    struct ChunkScratch {
        var cum, eq, ek, qa, qg, kd, kt, am, dot, da, dp, tmp, db, dbLast: Int
        /// Per-key gates: e^{B_i − B_{i−1}} of each row (n x width); e^{b_C} (width).
        var steps: Int = -1, carry: Int = -1
        /// dO of the chunk, packed row-major (n x dv).
        var dor: Int = -1
        /// dSᵀ (dv x dk) of the state cotangent after the chunk.
        var dsT: Int = -1
    }
}
