import KilnIR

extension LinearAttention {
    /// Reverse of the recurrence: recompute every state forward, then walk t backward carrying
    /// dS (the cotangent of the state after step t), starting from the final-state cotangent.
    static func backward(_ ins: [[S]], _ types: [TensorType], _ a: Attributes) -> [Buffer<S>] {
        let x = LinearAttentionOperands(backward: ins, types, a)
        let (gate, q, k, v, g, h0, scale) = (x.gate, x.q, x.k, x.v, x.g, x.h0, x.scale)
        let (dout, dstate, hasH0) = (x.dout!, x.dstate!, x.h0 != nil)
        let (bsz, tl, h, dk, dv) = (x.bsz, x.tl, x.h, x.dk, x.dv)
        let n = dk * dv
        var dq = [S](repeating: 0, count: q.count), dkv = [S](repeating: 0, count: k.count), dvv = [S](repeating: 0, count: v.count)
        var dg = [S](repeating: 0, count: g?.count ?? 0), dh0 = [S](repeating: 0, count: h0?.count ?? 0)
        for b in 0..<bsz {
            for hh in 0..<h {
                let sb = (b * h + hh) * n
                // states[t+1] is the state after step t; states[0] the initial state.
                var states = [[S]](repeating: [], count: tl + 1)
                states[0] = (0..<n).map { h0?[sb + $0] ?? 0 }
                var us = [[S]](repeating: [], count: tl)
                for t in 0..<tl {
                    let row = (b * tl + t) * h + hh, qo = row * dk, vo = row * dv
                    var s = states[t]
                    switch gate {
                    case .none: break
                    case .scalar: let d = S.exp(g![row]); for i in 0..<n { s[i] *= d }
                    case .key: for i in 0..<dk { let d = S.exp(g![qo + i]); for j in 0..<dv { s[i * dv + j] *= d } }
                    case .delta:
                        var u = [S](repeating: 0, count: dv)
                        for j in 0..<dv {
                            var w: S = 0
                            for i in 0..<dk { w += s[i * dv + j] * k[qo + i] }
                            u[j] = g![row] * (v[vo + j] - w)
                        }
                        us[t] = u
                    }
                    for i in 0..<dk { for j in 0..<dv { s[i * dv + j] += k[qo + i] * (gate == .delta ? us[t][j] : v[vo + j]) } }
                    states[t + 1] = s
                }
                var dS = (0..<n).map { dstate[sb + $0] }
                for t in stride(from: tl - 1, through: 0, by: -1) {
                    let row = (b * tl + t) * h + hh, qo = row * dk, vo = row * dv
                    let st = states[t + 1], prev = states[t]
                    // o_t = scale S_t^T q_t
                    for i in 0..<dk {
                        var acc: S = 0
                        for j in 0..<dv { acc += st[i * dv + j] * dout[vo + j]; dS[i * dv + j] += scale * q[qo + i] * dout[vo + j] }
                        dq[qo + i] += scale * acc
                    }
                    // S_t = A(S_{t-1}) + k_t x_t^T with x = v (or u for delta)
                    let x: [S] = gate == .delta ? us[t] : Array(v[vo..<(vo + dv)])
                    var dx = [S](repeating: 0, count: dv)
                    for i in 0..<dk {
                        var acc: S = 0
                        for j in 0..<dv { acc += dS[i * dv + j] * x[j]; dx[j] += dS[i * dv + j] * k[qo + i] }
                        dkv[qo + i] += acc
                    }
                    switch gate {
                    case .none:
                        for j in 0..<dv { dvv[vo + j] += dx[j] }
                    case .scalar:
                        for j in 0..<dv { dvv[vo + j] += dx[j] }
                        let d = S.exp(g![row])
                        var acc: S = 0
                        for i in 0..<n { acc += dS[i] * prev[i]; dS[i] *= d }
                        dg[row] += d * acc
                    case .key:
                        for j in 0..<dv { dvv[vo + j] += dx[j] }
                        for i in 0..<dk {
                            let d = S.exp(g![qo + i])
                            var acc: S = 0
                            for j in 0..<dv { acc += dS[i * dv + j] * prev[i * dv + j]; dS[i * dv + j] *= d }
                            dg[qo + i] += d * acc
                        }
                    case .delta:
                        // u = beta (v - S_{t-1}^T k): dx is du.
                        let beta = g![row]
                        var dbeta: S = 0
                        for j in 0..<dv {
                            var w: S = 0
                            for i in 0..<dk { w += prev[i * dv + j] * k[qo + i] }
                            dbeta += dx[j] * (v[vo + j] - w)
                            dvv[vo + j] += beta * dx[j]
                        }
                        dg[row] += dbeta
                        for i in 0..<dk {
                            var acc: S = 0
                            for j in 0..<dv {
                                acc += prev[i * dv + j] * dx[j]
                                dS[i * dv + j] -= beta * dx[j] * k[qo + i]
                            }
                            dkv[qo + i] -= beta * acc
                        }
                    }
                }
                if hasH0 { for i in 0..<n { dh0[sb + i] = dS[i] } }
            }
        }
        var out: [Buffer<S>] = [.float(dq), .float(dkv), .float(dvv)]
        if gate.hasGateOperand { out.append(.float(dg)) }
        if hasH0 { out.append(.float(dh0)) }
        return out
    }
}
