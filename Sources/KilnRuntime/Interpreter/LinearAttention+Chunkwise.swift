import KilnIR

/// Records the largest argument passed to `exp` by the chunkwise reference, so tests can
/// check the stability rule of reference/chunkwise.md §1e: every exponent is ≤ 0.
struct ExpAudit {
    var maxArgument: Double = -.infinity
    var calls = 0

    mutating func exp<S: InterpScalar>(_ x: S) -> S {
        maxArgument = Swift.max(maxArgument, Double(x))
        calls += 1
        return S.exp(x)
    }
}

/// Where one (batch, head) pair's rows live in the flat [B,T,H,D] operands.
struct HeadLayout {
    let tl: Int, h: Int, dk: Int, dv: Int
    let b: Int, hh: Int

    /// Row index of token t in [B,T,H] (gate and beta operands).
    func row(_ t: Int) -> Int { (b * tl + t) * h + hh }
    func qk(_ t: Int, _ d: Int) -> Int { row(t) * dk + d }
    func val(_ t: Int, _ j: Int) -> Int { row(t) * dv + j }
    /// Offset of this pair's Dk x Dv state in [B,H,Dk,Dv].
    var stateBase: Int { (b * h + hh) * dk * dv }
}

/// The chunkwise form of `linear_attention` (reference/chunkwise.md §1), run when the op's
/// `chunk` attribute is > 0. It is the reference the compiled chunkwise kernels are checked
/// against, so it keeps their numerics: chunk-local cumulative gate sums, every exponent a
/// difference "later minus earlier" (≤ 0), DeltaNet through the UT transform T = (I + A)^-1.
enum ChunkwiseLinearAttention<S: InterpScalar> {
    static func run(_ ins: [[S]], _ types: [TensorType], _ a: Attributes, audit: inout ExpAudit) -> [Buffer<S>] {
        let x = LinearAttentionOperands(forward: ins, types, a)
        let (gate, g, h0, scale) = (x.gate, x.g, x.h0, x.scale)
        let (bsz, tl, h, dk, dv) = (x.bsz, x.tl, x.h, x.dk, x.dv)
        let chunk = a.int("chunk")
        var o = [S](repeating: 0, count: bsz * tl * h * dv)
        var finalState = [S](repeating: 0, count: bsz * h * dk * dv)
        // save_states: Sᵀ before each chunk, [B, H, chunks, Dv, Dk].
        let chunks = (tl + chunk - 1) / chunk, saving = a.bool("save_states")
        var saved = [S](repeating: 0, count: saving ? bsz * h * chunks * dk * dv : 0)
        for b in 0..<bsz {
            for hh in 0..<h {
                let l = HeadLayout(tl: tl, h: h, dk: dk, dv: dv, b: b, hh: hh)
                var s = (0..<(dk * dv)).map { h0?[l.stateBase + $0] ?? 0 }
                for (ci, c0) in stride(from: 0, to: tl, by: chunk).enumerated() {
                    if saving { saveTransposed(s, into: &saved, at: ((b * h + hh) * chunks + ci) * dk * dv, dk: dk, dv: dv) }
                    let n = min(chunk, tl - c0)
                    if gate == .delta {
                        deltaChunk(ins, l, c0, n, scale, &s, &o)
                    } else {
                        decayChunk(ins, g, gate, l, c0, n, scale, &s, &o, &audit)
                    }
                }
                for i in 0..<(dk * dv) { finalState[l.stateBase + i] = s[i] }
            }
        }
        var out: [Buffer<S>] = a.bool("final_state") ? [.float(o), .float(finalState)] : [.float(o)]
        if saving { out.append(.float(saved)) }
        return out
    }

    /// Writes the Dk x Dv state `s` transposed (Dv x Dk) at `base`.
    static func saveTransposed(_ s: [S], into out: inout [S], at base: Int, dk: Int, dv: Int) {
        for d in 0..<dk { for j in 0..<dv { out[base + j * dk + d] = s[d * dv + j] } }
    }

    /// Chunk-local cumulative log gates B (n x Dk; one column repeated for scalar gates, zeros
    /// without a gate). B is non-increasing down each column because g ≤ 0.
    static func cumulativeGates(_ g: [S]?, _ gate: LinearAttentionGate, _ l: HeadLayout, _ c0: Int, _ n: Int) -> [S] {
        var cum = [S](repeating: 0, count: n * l.dk)
        guard let g else { return cum }
        var run = [S](repeating: 0, count: l.dk)
        for i in 0..<n {
            for d in 0..<l.dk {
                run[d] += gate == .key ? g[l.qk(c0 + i, d)] : g[l.row(c0 + i)]
                cum[i * l.dk + d] = run[d]
            }
        }
        return cum
    }

    /// Gates none / scalar / key for one chunk (§1a-1c):
    ///   A_ij = scale Σ_d q_id k_jd e^{B_id − B_jd} (i ≥ j);  O = scale (Q ⊙ e^B) S + A V;
    ///   S ← diag(e^{b_C}) S + (K ⊙ e^{b_C − B})ᵀ V.
    static func decayChunk(_ ins: [[S]], _ g: [S]?, _ gate: LinearAttentionGate, _ l: HeadLayout, _ c0: Int, _ n: Int,
                           _ scale: S, _ s: inout [S], _ o: inout [S], _ audit: inout ExpAudit) {
        let (q, k, v) = (ins[0], ins[1], ins[2])
        let (dk, dv) = (l.dk, l.dv)
        let cum = cumulativeGates(g, gate, l, c0, n)
        let last = (n - 1) * dk
        for i in 0..<n {
            var out = [S](repeating: 0, count: dv)
            for d in 0..<dk {
                let qd = scale * q[l.qk(c0 + i, d)] * (gate == .none ? 1 : audit.exp(cum[i * dk + d]))
                for j in 0..<dv { out[j] += qd * s[d * dv + j] }
            }
            for jt in 0...i {
                var aij: S = 0
                for d in 0..<dk {
                    let decay = gate == .none ? 1 : audit.exp(cum[i * dk + d] - cum[jt * dk + d])
                    aij += q[l.qk(c0 + i, d)] * k[l.qk(c0 + jt, d)] * decay
                }
                aij *= scale
                for j in 0..<dv { out[j] += aij * v[l.val(c0 + jt, j)] }
            }
            for j in 0..<dv { o[l.val(c0 + i, j)] = out[j] }
        }
        for d in 0..<dk {
            let carry = gate == .none ? 1 : audit.exp(cum[last + d])
            for j in 0..<dv { s[d * dv + j] *= carry }
            for jt in 0..<n {
                let kd = k[l.qk(c0 + jt, d)] * (gate == .none ? 1 : audit.exp(cum[last + d] - cum[jt * dk + d]))
                for j in 0..<dv { s[d * dv + j] += kd * v[l.val(c0 + jt, j)] }
            }
        }
    }

    /// The DeltaNet chunk in WY/UT form (§1d): what the backward pass recomputes per chunk.
    struct DeltaChunk {
        /// β ⊙ K (n x Dk) and β ⊙ V (n x Dv).
        var kb: [S], vb: [S]
        /// T = (I + strict_lower(diag(β) K Kᵀ))^-1, n x n lower triangular with a unit diagonal.
        var t: [S]
        /// W = T (β ⊙ K), n x Dk.
        var w: [S]
        /// V_new = T (β ⊙ V) − W S, n x Dv: the values the chunk adds to the state.
        var vNew: [S]
    }

    static func deltaPrepare(_ ins: [[S]], _ l: HeadLayout, _ c0: Int, _ n: Int, _ s: [S]) -> DeltaChunk {
        let (k, v, beta) = (ins[1], ins[2], ins[3])
        let (dk, dv) = (l.dk, l.dv)
        var kb = [S](repeating: 0, count: n * dk), vb = [S](repeating: 0, count: n * dv)
        for i in 0..<n {
            let bi = beta[l.row(c0 + i)]
            for d in 0..<dk { kb[i * dk + d] = bi * k[l.qk(c0 + i, d)] }
            for j in 0..<dv { vb[i * dv + j] = bi * v[l.val(c0 + i, j)] }
        }
        // Forward substitution, row by row: (I + A) T = I gives T_i = e_i − Σ_{j<i} A_ij T_j.
        var t = [S](repeating: 0, count: n * n)
        for i in 0..<n {
            t[i * n + i] = 1
            for j in 0..<i {
                var aij: S = 0
                for d in 0..<dk { aij += kb[i * dk + d] * k[l.qk(c0 + j, d)] }
                if aij == 0 { continue }
                for c in 0...j { t[i * n + c] -= aij * t[j * n + c] }
            }
        }
        var w = [S](repeating: 0, count: n * dk), vNew = [S](repeating: 0, count: n * dv)
        for i in 0..<n {
            for j in 0...i {
                let tij = t[i * n + j]
                for d in 0..<dk { w[i * dk + d] += tij * kb[j * dk + d] }
                for c in 0..<dv { vNew[i * dv + c] += tij * vb[j * dv + c] }
            }
            for d in 0..<dk {
                let wd = w[i * dk + d]
                for c in 0..<dv { vNew[i * dv + c] -= wd * s[d * dv + c] }
            }
        }
        return DeltaChunk(kb: kb, vb: vb, t: t, w: w, vNew: vNew)
    }

    /// O = scale Q S + scale (Q Kᵀ ⊙ M) V_new;  S ← S + Kᵀ V_new.
    static func deltaChunk(_ ins: [[S]], _ l: HeadLayout, _ c0: Int, _ n: Int, _ scale: S, _ s: inout [S], _ o: inout [S]) {
        let (q, k) = (ins[0], ins[1])
        let (dk, dv) = (l.dk, l.dv)
        let p = deltaPrepare(ins, l, c0, n, s)
        for i in 0..<n {
            var out = [S](repeating: 0, count: dv)
            for d in 0..<dk {
                let qd = scale * q[l.qk(c0 + i, d)]
                for j in 0..<dv { out[j] += qd * s[d * dv + j] }
            }
            for jt in 0...i {
                var aij: S = 0
                for d in 0..<dk { aij += q[l.qk(c0 + i, d)] * k[l.qk(c0 + jt, d)] }
                aij *= scale
                for j in 0..<dv { out[j] += aij * p.vNew[jt * dv + j] }
            }
            for j in 0..<dv { o[l.val(c0 + i, j)] = out[j] }
        }
        for jt in 0..<n {
            for d in 0..<dk {
                let kd = k[l.qk(c0 + jt, d)]
                for j in 0..<dv { s[d * dv + j] += kd * p.vNew[jt * dv + j] }
            }
        }
    }
}
