import KilnIR

/// Pre-norm transformer FFN residual: x + Linear(GELU(Linear(LayerNorm(x)))).
public struct FFNBlock: Layer {
    public var norm: LayerNorm
    public var fc1: Linear
    public var fc2: Linear

    public init(dim d: Int, expansion: Int = 4) {
        norm = LayerNorm(d, eps: 1e-5)
        fc1 = Linear(d, expansion * d)
        fc2 = Linear(expansion * d, d)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x + fc2(gelu(fc1(norm(x)))) }
}

/// SwiGLU FFN residual: x + W2(silu(W1 h) * W3 h), h = RMSNorm(x).
public struct SwiGLUBlock: Layer {
    public var norm: RMSNorm
    public var w1: Linear
    public var w3: Linear
    public var w2: Linear

    public init(dim d: Int, hidden: Int) {
        norm = RMSNorm(d)
        w1 = Linear(d, hidden, bias: false)
        w3 = Linear(d, hidden, bias: false)
        w2 = Linear(hidden, d, bias: false)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = norm(x)
        return x + w2(silu(w1(h)) * w3(h))
    }
}

/// GLA transformer block: GLA attention residual, then a SwiGLU FFN residual.
public struct GLABlock: Layer {
    public var attn: GLAAttention
    public var ffn: SwiGLUBlock

    public init(dim d: Int, heads h: Int, headDim dh: Int, ffnHidden: Int) {
        attn = GLAAttention(dim: d, heads: h, keyDim: dh, valueDim: dh)
        ffn = SwiGLUBlock(dim: d, hidden: ffnHidden)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { ffn(attn(x)) }
}
