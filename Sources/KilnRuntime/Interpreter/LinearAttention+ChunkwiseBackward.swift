import KilnIR

extension ChunkwiseLinearAttention {
    /// Chunkwise reverse pass (reference/chunkwise.md §2): one forward sweep keeps only the
    /// state at each chunk boundary, then chunks are walked backward carrying dS, the cotangent
    /// of the state after the chunk, from the final-state cotangent down to dh0.
    static func backward(_ ins: [[S]], _ types: [TensorType], _ a: Attributes, audit: inout ExpAudit) -> [Buffer<S>] {
        let x = LinearAttentionOperands(backward: ins, types, a)
        let (gate, g, h0, scale) = (x.gate, x.g, x.h0, x.scale)
        let (dout, dstate, hasH0) = (x.dout!, x.dstate!, x.h0 != nil)
        let (bsz, tl, h, dk, dv) = (x.bsz, x.tl, x.h, x.dk, x.dv)
        let chunk = a.int("chunk"), n = dk * dv
        var grads = Grads(dq: [S](repeating: 0, count: ins[0].count), dk: [S](repeating: 0, count: ins[1].count),
                          dv: [S](repeating: 0, count: ins[2].count), dg: [S](repeating: 0, count: g?.count ?? 0))
        var dh0 = [S](repeating: 0, count: h0?.count ?? 0)
        for b in 0..<bsz {
            for hh in 0..<h {
                let l = HeadLayout(tl: tl, h: h, dk: dk, dv: dv, b: b, hh: hh)
                // states[c] is the state before chunk c: the forward's (saved_states, stored
                // transposed) or recomputed here.
                var states: [[S]] = []
                if let saved = x.savedStates {
                    let chunks = (tl + chunk - 1) / chunk
                    states = (0..<chunks).map { ci in
                        let base = ((b * h + hh) * chunks + ci) * n
                        return (0..<n).map { e in saved[base + (e % dv) * dk + e / dv] }
                    }
                }
                var s = (0..<n).map { h0?[l.stateBase + $0] ?? 0 }
                var scratch = [S](repeating: 0, count: ins[2].count)
                for c0 in stride(from: 0, to: tl, by: chunk) where x.savedStates == nil {
                    states.append(s)
                    let len = min(chunk, tl - c0)
                    if gate == .delta {
                        deltaChunk(ins, l, c0, len, scale, &s, &scratch)
                    } else {
                        decayChunk(ins, g, gate, l, c0, len, scale, &s, &scratch, &audit)
                    }
                }
                var dS = (0..<n).map { dstate[l.stateBase + $0] }
                for (ci, c0) in stride(from: 0, to: tl, by: chunk).enumerated().reversed() {
                    let len = min(chunk, tl - c0)
                    if gate == .delta {
                        deltaChunkBackward(ins, dout, l, c0, len, scale, states[ci], &dS, &grads)
                    } else {
                        decayChunkBackward(ins, dout, g, gate, l, c0, len, scale, states[ci], &dS, &grads, &audit)
                    }
                }
                if hasH0 { for i in 0..<n { dh0[l.stateBase + i] = dS[i] } }
            }
        }
        var out: [Buffer<S>] = [.float(grads.dq), .float(grads.dk), .float(grads.dv)]
        if gate.hasGateOperand { out.append(.float(grads.dg)) }
        if hasH0 { out.append(.float(dh0)) }
        return out
    }

    struct Grads {
        var dq: [S], dk: [S], dv: [S], dg: [S]
    }

    /// Gates none / scalar / key. With Qg = Q ⊙ e^B, Kd = K ⊙ e^{b_C − B} and dA = dO Vᵀ masked:
    ///   dV = Aᵀ dO + Kd dS;  dQ = scale (dO Sᵀ) ⊙ e^B + intra;  dK = (V dSᵀ) ⊙ e^{b_C − B} + intra;
    ///   dB = Q ⊙ dQ − K ⊙ dK, plus e^{b_C}⟨S, dS⟩ + Σ_j K ⊙ dK_inter on the last row (accumulated
    ///   term by term, leaving out the pairs that cancel exactly);
    ///   dg = reverse cumsum of dB within the chunk;  dS ← e^{b_C} dS + scale Qgᵀ dO.
    static func decayChunkBackward(_ ins: [[S]], _ dout: [S], _ g: [S]?, _ gate: LinearAttentionGate, _ l: HeadLayout,
                                   _ c0: Int, _ n: Int, _ scale: S, _ s: [S], _ dS: inout [S], _ gr: inout Grads,
                                   _ audit: inout ExpAudit) {
        let (q, k, v) = (ins[0], ins[1], ins[2])
        let (dk, dv) = (l.dk, l.dv)
        let cum = cumulativeGates(g, gate, l, c0, n)
        let last = (n - 1) * dk
        func ex(_ x: S) -> S { gate == .none ? 1 : audit.exp(x) }
        var dq = [S](repeating: 0, count: n * dk), dkk = [S](repeating: 0, count: n * dk)
        var dB = [S](repeating: 0, count: n * dk), dbLast = [S](repeating: 0, count: dk)
        for i in 0..<n {
            for jt in 0...i {
                var aij: S = 0, daij: S = 0
                var decays = [S](repeating: 1, count: dk)
                for d in 0..<dk {
                    decays[d] = ex(cum[i * dk + d] - cum[jt * dk + d])
                    aij += q[l.qk(c0 + i, d)] * k[l.qk(c0 + jt, d)] * decays[d]
                }
                aij *= scale
                for j in 0..<dv {
                    gr.dv[l.val(c0 + jt, j)] += aij * dout[l.val(c0 + i, j)]
                    daij += dout[l.val(c0 + i, j)] * v[l.val(c0 + jt, j)]
                }
                daij *= scale
                for d in 0..<dk {
                    dq[i * dk + d] += daij * k[l.qk(c0 + jt, d)] * decays[d]
                    dkk[jt * dk + d] += daij * q[l.qk(c0 + i, d)] * decays[d]
                    // dB directly rather than Q ⊙ dQ − K ⊙ dK: the diagonal terms cancel
                    // exactly, and skipping them keeps tiny dg accurate under strong gates.
                    if jt < i {
                        let c = daij * q[l.qk(c0 + i, d)] * k[l.qk(c0 + jt, d)] * decays[d]
                        dB[i * dk + d] += c
                        dB[jt * dk + d] -= c
                    }
                }
            }
        }
        for d in 0..<dk {
            let carry = ex(cum[last + d])
            var stateTerm: S = 0
            for j in 0..<dv { stateTerm += s[d * dv + j] * dS[d * dv + j] }
            dbLast[d] += carry * stateTerm
            for i in 0..<n {
                // Inter-chunk terms through S (before) and dS (after the chunk).
                let eq = ex(cum[i * dk + d]), ek = ex(cum[last + d] - cum[i * dk + d])
                var qAcc: S = 0, kAcc: S = 0
                for j in 0..<dv {
                    qAcc += dout[l.val(c0 + i, j)] * s[d * dv + j]
                    kAcc += v[l.val(c0 + i, j)] * dS[d * dv + j]
                    gr.dv[l.val(c0 + i, j)] += k[l.qk(c0 + i, d)] * ek * dS[d * dv + j]
                }
                dq[i * dk + d] += scale * qAcc * eq
                dB[i * dk + d] += scale * qAcc * eq * q[l.qk(c0 + i, d)]
                let dkInter = kAcc * ek
                dkk[i * dk + d] += dkInter
                // Through e^{b_C − B_i}: −B_i and +b_C, which cancel on the last row.
                if i < n - 1 {
                    dB[i * dk + d] -= k[l.qk(c0 + i, d)] * dkInter
                    dbLast[d] += k[l.qk(c0 + i, d)] * dkInter
                }
            }
        }
        for i in 0..<n {
            for d in 0..<dk {
                gr.dq[l.qk(c0 + i, d)] += dq[i * dk + d]
                gr.dk[l.qk(c0 + i, d)] += dkk[i * dk + d]
            }
        }
        for d in 0..<dk { dB[last + d] += dbLast[d] }
        if gate != .none {
            var suffix = [S](repeating: 0, count: dk)
            for i in stride(from: n - 1, through: 0, by: -1) {
                var rowSum: S = 0
                for d in 0..<dk { suffix[d] += dB[i * dk + d]; rowSum += suffix[d] }
                if gate == .key {
                    for d in 0..<dk { gr.dg[l.qk(c0 + i, d)] += suffix[d] }
                } else {
                    gr.dg[l.row(c0 + i)] += rowSum
                }
            }
        }
        // dS before the chunk; uses the cotangent after the chunk, so it is updated last.
        for d in 0..<dk {
            let carry = ex(cum[last + d])
            for j in 0..<dv { dS[d * dv + j] *= carry }
            for i in 0..<n {
                let qd = scale * q[l.qk(c0 + i, d)] * ex(cum[i * dk + d])
                for j in 0..<dv { dS[d * dv + j] += qd * dout[l.val(c0 + i, j)] }
            }
        }
    }

    /// DeltaNet, §2: dV_new = Pᵀ dO + K dS with P = scale (Q Kᵀ ⊙ M); dQ, dK through P and Kᵀ V_new;
    /// dS ← dS + scale Qᵀ dO − Wᵀ dV_new; then the UT transform backward with dW = −dV_new Sᵀ, dU = dV_new:
    /// dT = dW Kbᵀ + dU Vbᵀ, dKb = Tᵀ dW, dVb = Tᵀ dU, dA = −strict_lower(Tᵀ dT Tᵀ).
    static func deltaChunkBackward(_ ins: [[S]], _ dout: [S], _ l: HeadLayout, _ c0: Int, _ n: Int, _ scale: S,
                                   _ s: [S], _ dS: inout [S], _ gr: inout Grads) {
        let (q, k, v, beta) = (ins[0], ins[1], ins[2], ins[3])
        let (dk, dv) = (l.dk, l.dv)
        let p = deltaPrepare(ins, l, c0, n, s)
        var dvNew = [S](repeating: 0, count: n * dv)
        for i in 0..<n {
            for jt in 0...i {
                var pij: S = 0, dpij: S = 0
                for d in 0..<dk { pij += q[l.qk(c0 + i, d)] * k[l.qk(c0 + jt, d)] }
                pij *= scale
                for j in 0..<dv {
                    dvNew[jt * dv + j] += pij * dout[l.val(c0 + i, j)]
                    dpij += dout[l.val(c0 + i, j)] * p.vNew[jt * dv + j]
                }
                dpij *= scale
                for d in 0..<dk {
                    gr.dq[l.qk(c0 + i, d)] += dpij * k[l.qk(c0 + jt, d)]
                    gr.dk[l.qk(c0 + jt, d)] += dpij * q[l.qk(c0 + i, d)]
                }
            }
        }
        for i in 0..<n {
            for d in 0..<dk {
                var qAcc: S = 0, kAcc: S = 0
                for j in 0..<dv {
                    qAcc += dout[l.val(c0 + i, j)] * s[d * dv + j]
                    kAcc += p.vNew[i * dv + j] * dS[d * dv + j]
                }
                gr.dq[l.qk(c0 + i, d)] += scale * qAcc
                gr.dk[l.qk(c0 + i, d)] += kAcc
                let kd = k[l.qk(c0 + i, d)]
                for j in 0..<dv { dvNew[i * dv + j] += kd * dS[d * dv + j] }
            }
        }
        // dW = −dV_new Sᵀ (n x Dk), before dS moves past the chunk.
        var dw = [S](repeating: 0, count: n * dk)
        for i in 0..<n {
            for d in 0..<dk {
                var acc: S = 0
                for j in 0..<dv { acc += dvNew[i * dv + j] * s[d * dv + j] }
                dw[i * dk + d] = -acc
            }
        }
        for d in 0..<dk {
            for i in 0..<n {
                let qd = scale * q[l.qk(c0 + i, d)], wd = p.w[i * dk + d]
                for j in 0..<dv { dS[d * dv + j] += qd * dout[l.val(c0 + i, j)] - wd * dvNew[i * dv + j] }
            }
        }
        // UT transform backward.
        var dT = [S](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var acc: S = 0
                for d in 0..<dk { acc += dw[i * dk + d] * p.kb[j * dk + d] }
                for c in 0..<dv { acc += dvNew[i * dv + c] * p.vb[j * dv + c] }
                dT[i * n + j] = acc
            }
        }
        var dkb = [S](repeating: 0, count: n * dk), dvb = [S](repeating: 0, count: n * dv)
        for j in 0..<n {
            for i in j..<n {
                let tij = p.t[i * n + j]
                for d in 0..<dk { dkb[j * dk + d] += tij * dw[i * dk + d] }
                for c in 0..<dv { dvb[j * dv + c] += tij * dvNew[i * dv + c] }
            }
        }
        // dA = −Tᵀ dT Tᵀ on the strict lower triangle: M = Tᵀ dT first, then dA_ij = −Σ_c M_ic T_jc.
        var m = [S](repeating: 0, count: n * n)
        for i in 0..<n {
            for c in 0..<n {
                var acc: S = 0
                for r in max(i, c)..<n { acc += p.t[r * n + i] * dT[r * n + c] }
                m[i * n + c] = acc
            }
        }
        for i in 0..<n {
            for j in 0..<i {
                var daij: S = 0
                for c in 0...j { daij -= m[i * n + c] * p.t[j * n + c] }
                // A_ij = Kb_i · k_j.
                for d in 0..<dk {
                    dkb[i * dk + d] += daij * k[l.qk(c0 + j, d)]
                    gr.dk[l.qk(c0 + j, d)] += daij * p.kb[i * dk + d]
                }
            }
        }
        for i in 0..<n {
            let bi = beta[l.row(c0 + i)]
            var dbeta: S = 0
            for d in 0..<dk {
                gr.dk[l.qk(c0 + i, d)] += bi * dkb[i * dk + d]
                dbeta += k[l.qk(c0 + i, d)] * dkb[i * dk + d]
            }
            for c in 0..<dv {
                gr.dv[l.val(c0 + i, c)] += bi * dvb[i * dv + c]
                dbeta += v[l.val(c0 + i, c)] * dvb[i * dv + c]
            }
            gr.dg[l.row(c0 + i)] += dbeta
        }
    }
}
