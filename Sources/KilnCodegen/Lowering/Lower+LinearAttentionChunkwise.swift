import KilnIR

/// Shapes, operand buffers and per-(batch, head) scratch of one chunkwise linear_attention.
/// Scratch is indexed by the (batch, head) pair, so the parallel loop needs no locking.
struct ChunkwisePlan {
    let gate: LinearAttentionGate
    let bsz: Int, tl: Int, h: Int, dk: Int, dv: Int, chunk: Int
    let scale: Float
    let q: Int, k: Int, val: Int, g: Int?, h0: Int?
    let o: Int, state: Int
    /// Rows per sub-chunk of the per-key-gate scores (one reference row each).
    var sub: Int = 16
    /// Leading dimension of the carried state `state` (dk rows of dv; the forward pads it).
    var stateLd: Int? = nil
    var ldS: Int { stateLd ?? dv }

    /// The forward's state row length: dv, padded by 16 floats when a row is a multiple of
    /// 512 bytes. Unpadded, a 16-column panel of a 128 x 128 state (the B operand of Q S)
    /// falls into 8 of the L1's 64 sets, 64 lines of room for 128 rows, so every row tile
    /// re-read the panel from L2.
    static func paddedStateLd(_ dv: Int) -> Int { dv % 128 == 0 ? dv + 16 : dv }
    var chunks: Int { (tl + chunk - 1) / chunk }

    /// Offset of token (c0 + i) of this pair in a [B,T,H,width] operand.
    func at(_ i: KExpr, _ width: Int) -> KExpr { ((.ivar("b") * .int(tl) + .ivar("c0") + i) * .int(h) + .ivar("hh")) * .int(width) }
    /// Start of this pair's block of `size` elements in a scratch buffer.
    func scratch(_ size: Int) -> KExpr { .ivar("bh") * .int(size) }
}

extension LowerContext {
    /// Chunkwise linear_attention for gates none / scalar / key (reference/chunkwise.md §1a-1c),
    /// parallel over (batch, head); the Dk x Dv state stays in cache across chunks. Per chunk:
    /// O = (scale Q ⊙ e^B) S + (scale Q Kᵀ ⊙ Γ) V and S ← e^{b_C} S + (K ⊙ e^{b_C − B})ᵀ V, with
    /// B the chunk-local cumulative gate, so every exp argument is a "later minus earlier"
    /// difference ≤ 0. Per-key gates build Γ-weighted scores in 16-row sub-chunks against the
    /// sub-chunk's first row (off-diagonal blocks: one matmul) and by an in-block recurrence on
    /// the diagonal (`keyGateScores`); their decays are running products of the steps e^{B_i − B_{i−1}}.
    ///
    /// `parallel`: the quadratic parallel form, i.e. this kernel with one chunk spanning the whole
    /// sequence (C = T): the T x T decayed, causal scores with global cumulative gates, O = A V +
    /// (scale Q ⊙ e^B) h0, DeltaNet through its WY/UT form over the whole sequence.
    mutating func lowerLinearAttentionChunkwise(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], parallel: Bool = false) {
        let a = node.attributes
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        let qs = inT[0].shape, dv = inT[2].shape[3]
        let (bsz, tl, h, dk) = (qs[0], qs[1], qs[2], qs[3])
        let hasH0 = ins.count > (gate.hasGateOperand ? 4 : 3)
        let ldS = ChunkwisePlan.paddedStateLd(dv)
        let state = temp("la.state", elements: bsz * h * dk * ldS)
        var p = ChunkwisePlan(gate: gate, bsz: bsz, tl: tl, h: h, dk: dk, dv: dv, chunk: parallel ? tl : min(a.int("chunk"), tl),
                              scale: Float(a.float("scale")), q: ins[0], k: ins[1], val: ins[2],
                              g: gate.hasGateOperand ? ins[3] : nil, h0: hasH0 ? ins.last : nil, o: outs[0], state: state)
        // The parallel form's sub-chunks are larger: the off-diagonal factors e^{r − B_j} are
        // made once per sub-chunk for every earlier row, so 16 rows would cost T²·Dk/32 exps.
        if parallel { p.sub = 64 }
        p.stateLd = ldS
        let chunkBody = gate == .delta ? deltaChunkForward(p) : decayChunkForward(p)
        // h0 and the final state are [B,H,Dk,Dv]; the carried state has rows of ldS.
        let sAt: KExpr = v("sb") + v("d") * .int(ldS) + v("j"), outAt: KExpr = v("bh") * .int(dk * dv) + v("d") * .int(dv) + v("j")
        let rows = { (body: KStmt) -> KStmt in .loop("d", .int(dk), parallel: false, [.loop("j", .int(dv), parallel: false, [body])]) }
        // save_states: Sᵀ before each chunk into the last result, for the backward (which then
        // skips its recomputing sweep); transposed by register shuffles as the backward reads it.
        let save: [KStmt] = !a.bool("save_states") || parallel ? [] : [
            .transpose(TileTranspose(rows: .int(dk), cols: .int(dv), src: state, srcOffset: v("sb"), srcLd: .int(ldS),
                                     dst: outs.last!, dstOffset: (v("bh") * .int(p.chunks) + v("c")) * .int(dk * dv), dstLd: .int(dk))),
        ]
        kernel(parallel ? "linear_attention_parallel_\(gate)" : "linear_attention_chunkwise_\(gate)", parallel: bsz * h, [.loop("bh", .int(bsz * h), parallel: true, [
            .letInt("b", v("bh") / .int(h)),
            .letInt("hh", v("bh") % .int(h)),
            .letInt("sb", v("bh") * .int(dk * ldS)),
            rows(.store(state, sAt, p.h0.map { .load($0, outAt) } ?? .float(0))),
            .loop("c", .int(p.chunks), parallel: false, [
                .letInt("c0", v("c") * .int(p.chunk)),
                .letInt("n", .iop(.min, .int(p.chunk), .int(tl) - v("c0"))),
            ] + save + chunkBody),
        ] + (a.bool("final_state") ? [rows(.store(outs[1], outAt, .load(state, sAt)))] : []))])
    }

    /// Chunk-local cumulative gate sums into `cum` (n x width, width 1 for scalar gates).
    func cumulativeGates(_ p: ChunkwisePlan, into cum: Int, width: Int) -> [KStmt] {
        let base = p.scratch(p.chunk * width)
        let gAt = { (i: KExpr, d: KExpr) -> KExpr in (width == 1 ? p.at(i, 1) : p.at(i, width)) + d }
        return [
            .loop("d", .int(width), parallel: false, [.store(cum, base + v("d"), .load(p.g!, gAt(0, v("d"))))]),
            .loop("i1", v("n") - 1, parallel: false, [
                .letInt("i", v("i1") + 1),
                .loop("d", .int(width), parallel: false, [
                    .store(cum, base + v("i") * .int(width) + v("d"),
                           fadd(.load(cum, base + v("i1") * .int(width) + v("d")), .load(p.g!, gAt(v("i"), v("d"))))),
                ]),
            ]),
        ]
    }

    mutating func decayChunkForward(_ p: ChunkwisePlan) -> [KStmt] {
        let (dk, dv, c) = (p.dk, p.dv, p.chunk)
        let width = p.gate == .key ? dk : 1
        let cum = temp("la.cum", elements: p.bsz * p.h * c * width)
        let qa = temp("la.q", elements: p.bsz * p.h * c * dk)      // scale·Q (scores)
        let qg = temp("la.qg", elements: p.bsz * p.h * c * dk)     // scale·Q ⊙ e^B (inter-chunk)
        let kt = temp("la.kt", elements: p.bsz * p.h * dk * c + 16)     // Kᵀ (scores; +16: see keyGateScores)
        let kd = temp("la.kd", elements: p.bsz * p.h * c * dk)     // K ⊙ e^{b_C − B} (state update)
        // O is written in place (rows of [B,T,H,Dv], stride H·Dv). V is packed: as a matmul's B
        // operand, rows 2 KB apart map onto a few L1 sets and thrash.
        let vc = temp("la.v", elements: p.bsz * p.h * c * dv)
        let vRows = MatrixSlice(buffer: vc, offset: p.scratch(c * dv), ld: .int(dv))
        let oRows = MatrixSlice(buffer: p.o, offset: p.at(0, dv), ld: .int(p.h * dv))
        let am = temp("la.a", elements: p.bsz * p.h * c * c + 16)
        let (qB, kB, aB, cB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * c), p.scratch(c * width))
        let sb: KExpr = v("sb")
        // Cumulative gate of row i, key dimension d.
        let cumAt = { (i: KExpr, d: KExpr) -> KExpr in .load(cum, cB + i * .int(width) + (width == 1 ? 0 : d)) }
        let last: KExpr = v("n") - 1
        var body: [KStmt] = p.gate == .none || p.gate == .key ? [] : cumulativeGates(p, into: cum, width: width)
        // Decays of Q (e^{B_i} ≤ 1) and K (e^{b_C − B_j} ≤ 1), in their own loops so the exps
        // vectorize; the gather below only multiplies.
        let eq = temp("la.eq", elements: p.bsz * p.h * c * width), ek = temp("la.ek", elements: p.bsz * p.h * c * width)
        var steps: Int? = nil
        if p.gate == .key {
            // Per-key gates: one exp per (row, key dim), the step e^{B_i − B_{i−1}} ≤ 1; the
            // decays are running products of steps (values ≤ 1, so they can only underflow).
            let st = temp("la.fstep", elements: p.bsz * p.h * c * width)
            steps = st
            let at = { (i: KExpr) -> KExpr in cB + i * .int(width) + v("d") }
            // The cumulative gates and the steps in one pass over the rows.
            let gAt = { (i: KExpr) -> KExpr in .load(p.g!, p.at(i, width) + v("d")) }
            body += [
                .loop("d", .int(width), parallel: false, [.store(cum, at(0), gAt(0)), .store(st, at(0), .float(1))]),
                .loop("i1", v("n") - 1, parallel: false, [
                    .letInt("i", v("i1") + 1),
                    .loop("d", .int(width), parallel: false, [
                        .store(cum, at(v("i")), fadd(cumAt(v("i1"), v("d")), gAt(v("i")))),
                        .store(st, at(v("i")), .call(.exp_nonpositive, fsub(cumAt(v("i"), v("d")), cumAt(v("i1"), v("d"))))),
                    ]),
                ]),
                .loop("d", .int(width), parallel: false, [
                    .store(eq, at(0), .call(.exp_nonpositive, cumAt(0, v("d")))),
                    .store(ek, at(last), .float(1)),
                ]),
                .loop("i1", v("n") - 1, parallel: false, [
                    .letInt("i", v("i1") + 1),
                    .letInt("ir", v("n") - 2 - v("i1")),
                    .loop("d", .int(width), parallel: false, [
                        .store(eq, at(v("i")), fmul(.load(eq, at(v("i1"))), .load(st, at(v("i"))))),
                        .store(ek, at(v("ir")), fmul(.load(ek, at(v("ir") + 1)), .load(st, at(v("ir") + 1)))),
                    ]),
                ]),
            ]
        } else if p.gate != .none {
            body.append(.loop("i", v("n"), parallel: false, [.loop("d", .int(width), parallel: false, [
                .store(eq, cB + v("i") * .int(width) + v("d"), .call(.exp_nonpositive, cumAt(v("i"), v("d")))),
                .store(ek, cB + v("i") * .int(width) + v("d"), .call(.exp_nonpositive, fsub(cumAt(last, v("d")), cumAt(v("i"), v("d"))))),
            ])]))
        }
        let decayAt = { (buf: Int) -> KExpr in .load(buf, cB + v("i") * .int(width) + (width == 1 ? 0 : v("d"))) }
        let qDecay: KExpr = p.gate == .none ? .float(1) : decayAt(eq)
        let kDecay: KExpr = p.gate == .none ? .float(1) : decayAt(ek)
        body.append(.loop("i", v("n"), parallel: false, [
            .loop("d", .int(dk), parallel: false, [
                .variable("qv", fmul(.load(p.q, p.at(v("i"), dk) + v("d")), .float(p.scale))),
            ] + (p.gate == .key ? [] : [.store(qa, qB + v("i") * .int(dk) + v("d"), .fvar("qv"))]) + [
                .store(qg, qB + v("i") * .int(dk) + v("d"), fmul(.fvar("qv"), qDecay)),
                .store(kd, qB + v("i") * .int(dk) + v("d"), fmul(.load(p.k, p.at(v("i"), dk) + v("d")), kDecay)),
            ]),
            // Kᵀ for the scores' B operand (rows must be contiguous); a plain copy, no exps.
            // Per-key gates build their B operand from K directly (keyGateScores).
            .loop("d", .int(p.gate == .key ? 0 : dk), parallel: false, [.store(kt, kB + v("d") * .int(c) + v("i"), .load(p.k, p.at(v("i"), dk) + v("d")))]),
            .loop("j", .int(dv), parallel: false, [.store(vc, p.scratch(c * dv) + v("i") * .int(dv) + v("j"), .load(p.val, p.at(v("i"), dv) + v("j")))]),
        ] + (p.gate == .key ? prefetchNextChunkGateRow(p, row: v("i")) : prefetchNextChunkRow(p, row: v("i"), reads: false))))
        // O = Qg S (inter-chunk part).
        // The next chunk's rows are prefetched again, a few lines per tile, over the chunk's two
        // long matmuls: the first operands (G, Q; for the other gates Q, K) over this one, the rest
        // over the state update (see `spreadNextChunkPrefetch`).
        let nextRows: [(buffer: Int, width: Int)] = (p.gate == .key ? [(p.g!, dk)] : []) + [(p.q, dk), (p.k, dk), (p.val, dv)]
        body += tileMatmul("os", m: v("n"), n: .int(dv), k: .int(dk), a: MatrixSlice(buffer: qg, offset: qB, ld: .int(dk)),
                            b: MatrixSlice(buffer: p.state, offset: sb, ld: .int(p.ldS)), c: oRows, accumulate: false,
                            perTile: spreadNextChunkPrefetch(p, Array(nextRows.prefix(2))))
        // Scores A (n x n), causal and decayed.
        body += p.gate == .key ? keyGateOneMatmulGuard(p, cum: cum)
                                 + keyGateScoresGuarded(p, qg: qg, kd: kd, kt: kt, am: am, cum: cum, eq: eq, steps: steps!,
                                                        kinv: temp("la.kinv", elements: p.bsz * p.h * c * dk), prefetch: true)
                               : plainScores(p, qa: qa, kt: kt, am: am, cumAt: cumAt)
        // O += A V.
        body += causalScoresTimes(p, am: am, b: vRows, c: oRows)
        // S ← e^{b_C} S + Kdᵀ V.
        switch p.gate {
        case .none: break
        case .scalar:
            body.append(.variable("carry", .call(.exp_nonpositive, cumAt(last, 0))))
            body.append(.loop("d", .int(dk), parallel: false, [.loop("j", .int(dv), parallel: false, [
                .store(p.state, sb + v("d") * .int(p.ldS) + v("j"), fmul(.load(p.state, sb + v("d") * .int(p.ldS) + v("j")), .fvar("carry"))),
            ])]))
        case .key, .delta:
            // Per-key gates: e^{b_C} is the last row of e^B (a vector load, not a scalar exp per key dim).
            body.append(.loop("d", .int(dk), parallel: false, [
                .variable("carry", p.gate == .key ? .load(eq, cB + last * .int(width) + v("d")) : .call(.exp_nonpositive, cumAt(last, v("d")))),
                .loop("j", .int(dv), parallel: false, [
                    .store(p.state, sb + v("d") * .int(p.ldS) + v("j"), fmul(.load(p.state, sb + v("d") * .int(p.ldS) + v("j")), .fvar("carry"))),
                ]),
            ]))
        }
        body += tileMatmul("kv", m: .int(dk), n: .int(dv), k: v("n"), a: MatrixSlice(buffer: kd, offset: qB, ld: 1, colStride: .int(dk)),
                            b: vRows, c: MatrixSlice(buffer: p.state, offset: sb, ld: .int(p.ldS)), accumulate: true,
                            perTile: spreadNextChunkPrefetch(p, Array(nextRows.dropFirst(2))))
        return body
    }

    /// C += A B for the n x n causal scores A (zero above the diagonal), in row blocks whose
    /// K stops at the diagonal: 16-row blocks in a chunk (a quarter less work at C = 32; GLA
    /// forward 0.965-0.976, RetNet 0.943, linear 0.993 per `kiln run --ab-env`), 64-row blocks
    /// for the parallel form's T x T scores (half the work).
    func causalScoresTimes(_ p: ChunkwisePlan, am: Int, b: MatrixSlice, c out: MatrixSlice) -> [KStmt] {
        let c = p.chunk, aB = p.scratch(c * c)
        let rows = c > 256 ? 64 : 16
        var block: [KStmt] = [
            .letInt("r0", v("rb") * .int(rows)),
            .letInt("nr", .iop(.min, .int(rows), v("n") - v("r0"))),
        ]
        block += tileMatmul("avp", m: v("nr"), n: .int(p.dv), k: v("r0") + v("nr"),
                            a: MatrixSlice(buffer: am, offset: aB + v("r0") * .int(c), ld: .int(c)), b: b,
                            c: MatrixSlice(buffer: out.buffer, offset: out.offset + v("r0") * out.ld, ld: out.ld), accumulate: true)
        return [.loop("rb", (v("n") + .int(rows - 1)) / .int(rows), parallel: false, block)]
    }

    /// A = (scale Q) Kᵀ, then A_ij ← A_ij e^{b_i − b_j} for j ≤ i and 0 above the diagonal.
    func plainScores(_ p: ChunkwisePlan, qa: Int, kt: Int, am: Int, cumAt: (KExpr, KExpr) -> KExpr) -> [KStmt] {
        let c = p.chunk
        let (qB, kB, aB) = (p.scratch(c * p.dk), p.scratch(p.dk * c), p.scratch(c * c))
        var body: [KStmt]
        if c > 256 {
            // The parallel form: 64-row blocks stop at the diagonal (the rest is zeroed below).
            body = [.loop("rb", (v("n") + 63) / 64, parallel: false, [
                .letInt("r0", v("rb") * 64),
                .letInt("nr", .iop(.min, .int(64), v("n") - v("r0"))),
            ] + tileMatmul("qkp", m: v("nr"), n: v("r0") + v("nr"), k: .int(p.dk),
                           a: MatrixSlice(buffer: qa, offset: qB + v("r0") * .int(p.dk), ld: .int(p.dk)),
                           b: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)),
                           c: MatrixSlice(buffer: am, offset: aB + v("r0") * .int(c), ld: .int(c)), accumulate: false))]
        } else {
            body = tileMatmul("qk", m: v("n"), n: v("n"), k: .int(p.dk), a: MatrixSlice(buffer: qa, offset: qB, ld: .int(p.dk)),
                              b: MatrixSlice(buffer: kt, offset: kB, ld: .int(c)), c: MatrixSlice(buffer: am, offset: aB, ld: .int(c)),
                              accumulate: false)
        }
        let aij: KExpr = aB + v("i") * .int(c) + v("j")
        var lower: [KStmt] = []
        if p.gate == .scalar {
            lower = [.loop("j", v("i") + 1, parallel: false, [
                .store(am, aij, fmul(.load(am, aij), .call(.exp_nonpositive, fsub(cumAt(v("i"), 0), cumAt(v("j"), 0))))),
            ])]
        }
        body.append(.loop("i", v("n"), parallel: false, lower + [
            .loop("j1", v("n") - v("i") - 1, parallel: false, [.store(am, aB + v("i") * .int(c) + v("i") + 1 + v("j1"), .float(0))]),
        ]))
        return body
    }

    /// Per-key gates: scores in 16-row sub-chunks I. Against the reference row r = B[first row of I],
    /// A[I, <I] = (scale Q_I ⊙ e^{B_I − r}) (K ⊙ e^{r − B})ᵀ is one matmul with factors ≤ 1. The
    /// diagonal block needs scale q_id k_jd e^{B_id − B_jd} for j ≤ i; it is built row by row as
    /// a recurrence inside the block (W_j ← W_j ⊙ e^{B_i − B_{i−1}}, W_i = k_i, A[i, j] = q_i·W_j),
    /// so it costs one exp per (row, key dim) and a multiply per (row, column, key dim) instead
    /// of an exp per (row, column, key dim); every factor is ≤ 1, so it can only underflow.
    /// `steps`, if given, holds e^{B_i − B_{i−1}} (n x dk) for the chunk (the forward computes them
    /// once); the backward's recomputation passes nil and they are made per row. With `qa` nil, the
    /// rows of Q are read in place and scaled here (the forward: no scaled copy of Q). The off-diagonal
    /// B operand is built straight from K and B row by row (no transposed copies: those strided
    /// copies cost ~15% of the GLA forward), so `kt` is not read. With `prefetch`, each diagonal row
    /// also prefetches a row of the next chunk's operands (see `prefetchNextChunkRow`). The forward
    /// and the backward take this form only for chunks with strong gates (`keyGateScoresGuarded`,
    /// `keyGateIntraBackwardGuarded`); weaker chunks take one matmul.
    mutating func keyGateScores(_ p: ChunkwisePlan, qa: Int?, kt: Int, am: Int, cum: Int, steps: Int? = nil, prefetch: Bool = false) -> [KStmt] {
        let (c, dk) = (p.chunk, p.dk)
        let sub = p.sub
        let qr = temp("la.qr", elements: p.bsz * p.h * sub * dk)
        let kr = temp("la.kr", elements: p.bsz * p.h * dk * c)
        let wt = temp("la.diagW", elements: p.bsz * p.h * sub * dk)   // W (sub x dk)
        let step = temp("la.step", elements: p.bsz * p.h * dk)        // e^{B_i − B_{i−1}}
        let lanes = temp("la.lanes", elements: p.bsz * p.h * sub * 16)  // per-lane partial dot products
        let (qB, kB, aB, cB) = (p.scratch(c * dk), p.scratch(dk * c), p.scratch(c * c), p.scratch(c * dk))
        let (qrB, krB, wB, sB) = (p.scratch(sub * dk), p.scratch(dk * c), p.scratch(dk * sub), p.scratch(dk))
        let cumAt = { (i: KExpr, d: KExpr) -> KExpr in .load(cum, cB + i * .int(dk) + d) }
        var body: [KStmt] = [
            // Zero the whole score tile; the blocks below fill the causal part.
            .loop("i", v("n"), parallel: false, [.loop("j", v("n"), parallel: false, [.store(am, aB + v("i") * .int(c) + v("j"), .float(0))])]),
        ]
        // Q_I ⊙ e^{B_I − r}: from the steps, the factor is a running product down the sub-chunk.
        // Q rows: the scaled copy `qa`, or Q in place with the scale folded into the factor.
        let qrAt: KExpr = qrB + v("i") * .int(dk) + v("d")
        let qRow = { (i: KExpr, d: KExpr) -> KExpr in qa.map { .load($0, qB + i * .int(dk) + d) } ?? .load(p.q, p.at(i, dk) + d) }
        let qScale: Float = qa == nil ? p.scale : 1
        let qrRows: KStmt = steps.map { st -> KStmt in
            .loop("i", v("ni"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(step, sB + v("d"), .select(.ilt(.int(0), v("i")),
                                                  fmul(.load(step, sB + v("d")), .load(st, cB + (v("i0") + v("i")) * .int(dk) + v("d"))), .float(qScale))),
                .store(qr, qrAt, fmul(qRow(v("i0") + v("i"), v("d")), .load(step, sB + v("d")))),
            ])])
        } ?? .loop("i", v("ni"), parallel: false, [.loop("d", .int(dk), parallel: false, [
            .store(qr, qrAt, fmul(fmul(qRow(v("i0") + v("i"), v("d")), .float(qScale)),
                                  .call(.exp_nonpositive, fsub(cumAt(v("i0") + v("i"), v("d")), cumAt(v("i0"), v("d")))))),
        ])])
        var perSub: [KStmt] = [
            .letInt("i0", v("sc") * .int(sub)),
            .letInt("ni", .iop(.min, .int(sub), v("n") - v("i0"))),
            qrRows,
        ] + offDiagonalKeys(p, kr: kr, krB: krB, cumAt: cumAt, steps: steps)
        perSub += tileMatmul("qr", m: v("ni"), n: v("i0"), k: .int(dk), a: MatrixSlice(buffer: qr, offset: qrB, ld: .int(dk)),
                              b: MatrixSlice(buffer: kr, offset: krB, ld: .int(c)),
                              c: MatrixSlice(buffer: am, offset: aB + v("i0") * .int(c), ld: .int(c)), accumulate: false)
        // Diagonal block, row by row: W (row j = key row j, contiguous in d, so every loop here
        // vectorizes over d) holds k_j ⊙ e^{B_i − B_j} for j ≤ i; then A[i, i0...i] = W scale·q_iᵀ.
        let ii: KExpr = v("i0") + v("i")
        let stepRow: KStmt = .loop("d", .int(steps == nil ? dk : 0), parallel: false, [
            .store(step, sB + v("d"), .call(.exp_nonpositive, fsub(cumAt(ii, v("d")), cumAt(.iop(.max, ii - 1, 0), v("d"))))),
        ])
        let stepAt: KExpr = steps.map { .load($0, cB + ii * .int(dk) + v("d")) } ?? .load(step, sB + v("d"))
        perSub.append(.loop("i", v("ni"), parallel: false, (prefetch ? prefetchNextChunkRow(p, row: ii) : []) + [
            stepRow,
            .loop("j", v("i"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(wt, wB + v("j") * .int(dk) + v("d"), fmul(.load(wt, wB + v("j") * .int(dk) + v("d")), stepAt)),
            ])]),
            .loop("d", .int(dk), parallel: false, [.store(wt, wB + v("i") * .int(dk) + v("d"), .load(p.k, p.at(ii, dk) + v("d")))]),
        ] + laneDotProducts(rows: v("i") + 1, w: wt, wOffset: wB, x: qa ?? p.q, xOffset: qa == nil ? p.at(ii, dk) : qB + ii * .int(dk), dk: dk,
                            partial: lanes, partialOffset: p.scratch(sub * 16),
                            out: am, outOffset: aB + ii * .int(c) + v("i0"), scale: qScale)))
        body.append(.loop("sc", (v("n") + .int(sub - 1)) / .int(sub), parallel: false, perSub))
        return body
    }

    /// (K ⊙ e^{r − B})ᵀ for the rows before the sub-chunk (j < i0, r = B[i0]), computed row by row
    /// from K (contiguous in d, so the loops vectorize) into a row-major scratch, then transposed
    /// by register shuffles (storing it transposed directly scatters). With the chunk's `steps`,
    /// the factors are running products going up from row i0 (e^{B_{i0} − B_j} =
    /// e^{B_{i0} − B_{j+1}} · e^{B_{j+1} − B_j}, all ≤ 1): no exps.
    mutating func offDiagonalKeys(_ p: ChunkwisePlan, kr: Int, krB: KExpr, cumAt: (KExpr, KExpr) -> KExpr, steps: Int?) -> [KStmt] {
        let (c, dk) = (p.chunk, p.dk)
        let rows = temp("la.krRows", elements: p.bsz * p.h * c * dk), rB = p.scratch(c * dk)
        let rowAt: KExpr = rB + v("j") * .int(dk) + v("d"), kAt: KExpr = p.at(v("j"), dk) + v("d")
        let transposed: KStmt = .transpose(TileTranspose(rows: v("i0"), cols: .int(dk), src: rows, srcOffset: rB, srcLd: .int(dk),
                                                         dst: kr, dstOffset: krB, dstLd: .int(c)))
        guard let st = steps else {
            return [.loop("j", v("i0"), parallel: false, [.loop("d", .int(dk), parallel: false, [
                .store(rows, rowAt, fmul(.load(p.k, kAt), .call(.exp_nonpositive, fsub(cumAt(v("i0"), v("d")), cumAt(v("j"), v("d")))))),
            ])]), transposed]
        }
        let f = temp("la.krFactor", elements: p.bsz * p.h * dk), fAt: KExpr = p.scratch(dk) + v("d")
        return [.loop("jr", v("i0"), parallel: false, [
            .letInt("j", v("i0") - 1 - v("jr")),
            .loop("d", .int(dk), parallel: false, [
                .store(f, fAt, fmul(.select(.ilt(.int(0), v("jr")), .load(f, fAt), .float(1)),
                                    .load(st, p.scratch(c * dk) + (v("j") + 1) * .int(dk) + v("d")))),
                .store(rows, rowAt, fmul(.load(p.k, kAt), .load(f, fAt))),
            ]),
        ]), transposed]
    }

    /// out[j] = Σ_d w[j, d] x[d] for j < rows (w row-major with row length dk). A matmul with one
    /// column would use one lane of each vector; instead partial[j, l] sums the key dims d ≡ l
    /// (mod 16) in a loop over l that vectorizes, and only 16 partials per row are added up.
    /// Each out[j] is multiplied by `scale`.
    func laneDotProducts(rows: KExpr, w: Int, wOffset: KExpr, x: Int, xOffset: KExpr, dk: Int,
                         partial: Int, partialOffset: KExpr, out: Int, outOffset: KExpr, scale: Float = 1) -> [KStmt] {
        let blocks = dk / 16
        let wAt = { (d: KExpr) -> KExpr in .load(w, wOffset + v("j") * .int(dk) + d) }
        let xAt = { (d: KExpr) -> KExpr in .load(x, xOffset + d) }
        var lane: KExpr = .float(0)
        for blk in 0..<blocks { lane = fadd(fmul(wAt(.int(blk * 16) + v("l")), xAt(.int(blk * 16) + v("l"))), lane) }
        var total: KExpr = .float(0)
        for l in 0..<(blocks > 0 ? 16 : 0) { total = fadd(total, .load(partial, partialOffset + v("j") * 16 + .int(l))) }
        for d in (blocks * 16)..<dk { total = fadd(fmul(wAt(.int(d)), xAt(.int(d))), total) }
        var body: [KStmt] = []
        if blocks > 0 {
            body.append(.loop("j", rows, parallel: false, [.loop("l", .int(16), parallel: false, [
                .store(partial, partialOffset + v("j") * 16 + v("l"), lane),
            ])]))
        }
        body.append(.loop("j", rows, parallel: false, [.store(out, outOffset + v("j"), scale == 1 ? total : fmul(total, .float(scale)))]))
        return body
    }
}
