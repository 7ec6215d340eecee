import Foundation
import KilnIR

// The linear-attention token mixers of the zoo: each is pre-norm, projects to heads
// [B, T, H, D], runs one `linear_attention` op, merges heads and adds the residual.

/// Splits [B, T, H*D] into heads [B, T, H, D] (records an error, never traps, on another shape).
func heads(_ x: Tensor, _ h: Int) -> Tensor {
    let s = x.shape
    guard s.count == 3, h > 0, s[2] % h == 0 else {
        return x.failing("expected [B, T, H*D] with H = \(h) dividing the last axis, got \(x.type)")
    }
    return reshape(x, [s[0], s[1], h, s[2] / h])
}

/// Merges heads [B, T, H, D] into [B, T, H*D].
func mergeHeads(_ x: Tensor) -> Tensor {
    let s = x.shape
    guard s.count == 4 else { return x.failing("expected [B, T, H, D], got \(x.type)") }
    return reshape(x, [s[0], s[1], s[2] * s[3]])
}

/// Gated linear attention (GLA) token mixer with a residual: per-key gates from a low-rank
/// projection, logsigmoid / 16, and a SiLU output gate.
public struct GLAAttention: Layer {
    public var norm: RMSNorm
    public var qProj: Linear
    public var kProj: Linear
    public var vProj: Linear
    public var gkDown: Linear
    public var gkUp: Linear
    public var gProj: Linear
    public var oProj: Linear
    public let heads: Int

    public init(dim d: Int, heads h: Int, keyDim dk: Int, valueDim dv: Int, gateRank: Int = 16) {
        norm = RMSNorm(d)
        qProj = Linear(d, h * dk, bias: false)
        kProj = Linear(d, h * dk, bias: false)
        vProj = Linear(d, h * dv, bias: false)
        gkDown = Linear(d, gateRank, bias: false)
        gkUp = Linear(gateRank, h * dk)
        gProj = Linear(d, h * dv, bias: false)
        oProj = Linear(h * dv, d, bias: false)
        heads = h
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let hx = norm(x)
        let q = KilnFrontend.heads(qProj(hx), heads), k = KilnFrontend.heads(kProj(hx), heads)
        let v = KilnFrontend.heads(vProj(hx), heads)
        // gate_logit_normalizer = 16 as in fla's GLA layer: gates stay near 0 in log space.
        let g = KilnFrontend.heads(logSigmoid(gkUp(gkDown(hx))) / 16, heads)
        let o = mergeHeads(linearAttention(q: q, k: k, v: v, gate: .key, g: g)[0])
        return x + oProj(silu(gProj(hx)) * o)
    }
}

/// DeltaNet token mixer with a residual: L2-normalized q, k; beta = sigmoid(W_b x).
public struct DeltaNetAttention: Layer {
    public var norm: RMSNorm
    public var qProj: Linear
    public var kProj: Linear
    public var vProj: Linear
    public var bProj: Linear
    public var oProj: Linear
    public let heads: Int

    public init(dim d: Int, heads h: Int, headDim dh: Int) {
        norm = RMSNorm(d)
        qProj = Linear(d, h * dh, bias: false)
        kProj = Linear(d, h * dh, bias: false)
        vProj = Linear(d, h * dh, bias: false)
        bProj = Linear(d, h)
        oProj = Linear(h * dh, d, bias: false)
        heads = h
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let hx = norm(x)
        let q = l2Normalize(KilnFrontend.heads(qProj(hx), heads))
        let k = l2Normalize(KilnFrontend.heads(kProj(hx), heads))
        let v = KilnFrontend.heads(vProj(hx), heads)
        let beta = sigmoid(bProj(hx))
        let o = mergeHeads(linearAttention(q: q, k: k, v: v, gate: .delta, g: beta)[0])
        return x + oProj(o)
    }
}

/// RetNet retention with a residual: a fixed decay per head, g_h = log(1 - 2^(-5-h)).
public struct RetentionAttention: Layer {
    /// The per-head log-space decays log(1 - 2^(-5-h)), h = 0..<heads (RetNet's gammas).
    public static func decays(heads: Int) -> [Float] {
        (0..<heads).map { Float(Foundation.log(1 - Foundation.pow(2.0, -5.0 - Double($0)))) }
    }

    public var norm: RMSNorm
    public var qProj: Linear
    public var kProj: Linear
    public var vProj: Linear
    public var oProj: Linear
    public let heads: Int

    public init(dim d: Int, heads h: Int, headDim dh: Int) {
        norm = RMSNorm(d)
        qProj = Linear(d, h * dh, bias: false)
        kProj = Linear(d, h * dh, bias: false)
        vProj = Linear(d, h * dh, bias: false)
        oProj = Linear(h * dh, d, bias: false)
        heads = h
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let hx = norm(x)
        let q = KilnFrontend.heads(qProj(hx), heads), k = KilnFrontend.heads(kProj(hx), heads)
        let v = KilnFrontend.heads(vProj(hx), heads)
        guard x.rank == 3 else { return x.failing("expected [B, T, C], got \(x.type)") }
        let g = broadcast(constant(Self.decays(heads: heads), shape: [heads]), to: [x.shape[0], x.shape[1], heads])
        let o = mergeHeads(linearAttention(q: q, k: k, v: v, gate: .scalar, g: g)[0])
        return x + oProj(o)
    }
}

