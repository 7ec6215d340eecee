import KilnIR

/// `linear_attention` as its defining token-by-token recurrence (IR/semantics.md):
/// the output at step t reads the state after step t is written.
enum LinearAttention<S: InterpScalar> {
    static func run(_ ins: [[S]], _ types: [TensorType], _ a: Attributes) -> [Buffer<S>] {
        let x = LinearAttentionOperands(forward: ins, types, a)
        let (gate, q, k, v, g, h0, scale) = (x.gate, x.q, x.k, x.v, x.g, x.h0, x.scale)
        let (bsz, tl, h, dk, dv) = (x.bsz, x.tl, x.h, x.dk, x.dv)
        var o = [S](repeating: 0, count: bsz * tl * h * dv)
        var finalState = [S](repeating: 0, count: bsz * h * dk * dv)
        var s = [S](repeating: 0, count: dk * dv)
        var u = [S](repeating: 0, count: dv)
        for b in 0..<bsz {
            for hh in 0..<h {
                let sBase = (b * h + hh) * dk * dv
                for i in 0..<(dk * dv) { s[i] = h0?[sBase + i] ?? 0 }
                for t in 0..<tl {
                    let row = (b * tl + t) * h + hh
                    let qo = row * dk, vo = row * dv
                    switch gate {
                    case .none:
                        break
                    case .scalar:
                        let decay = S.exp(g![row])
                        for i in 0..<(dk * dv) { s[i] *= decay }
                    case .key:
                        for i in 0..<dk {
                            let decay = S.exp(g![qo + i])
                            for j in 0..<dv { s[i * dv + j] *= decay }
                        }
                    case .delta:
                        // u = beta * (v - S^T k); the update below adds k u^T.
                        let beta = g![row]
                        for j in 0..<dv {
                            var acc: S = 0
                            for i in 0..<dk { acc += s[i * dv + j] * k[qo + i] }
                            u[j] = beta * (v[vo + j] - acc)
                        }
                    }
                    for i in 0..<dk {
                        let ki = k[qo + i]
                        for j in 0..<dv { s[i * dv + j] += ki * (gate == .delta ? u[j] : v[vo + j]) }
                    }
                    for j in 0..<dv {
                        var acc: S = 0
                        for i in 0..<dk { acc += s[i * dv + j] * q[qo + i] }
                        o[vo + j] = scale * acc
                    }
                }
                for i in 0..<(dk * dv) { finalState[sBase + i] = s[i] }
            }
        }
        return a.bool("final_state") ? [.float(o), .float(finalState)] : [.float(o)]
    }
}
