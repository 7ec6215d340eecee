import KilnIR

// Free functions over traced tensors, one per Graph IR op (see IR/semantics.md).

/// e^x, elementwise.
public func exp(_ x: any TensorLike) -> Tensor { op(.exp, [x]) }
/// Natural logarithm, elementwise.
public func log(_ x: any TensorLike) -> Tensor { op(.log, [x]) }
/// Square root, elementwise.
public func sqrt(_ x: any TensorLike) -> Tensor { op(.sqrt, [x]) }
/// 1/sqrt(x), elementwise.
public func rsqrt(_ x: any TensorLike) -> Tensor { op(.rsqrt, [x]) }
/// Hyperbolic tangent, elementwise.
public func tanh(_ x: any TensorLike) -> Tensor { op(.tanh, [x]) }
/// 1/(1+e^-x), elementwise.
public func sigmoid(_ x: any TensorLike) -> Tensor { op(.sigmoid, [x]) }
/// log(sigmoid(x)), computed stably; the log-space gates of GLA.
public func logSigmoid(_ x: any TensorLike) -> Tensor { op(.logsigmoid, [x]) }
/// max(x, 0), elementwise.
public func relu(_ x: any TensorLike) -> Tensor { op(.relu, [x]) }
/// min(max(x, 0), 6), elementwise (MobileNet).
public func relu6(_ x: any TensorLike) -> Tensor { op(.relu6, [x]) }
/// x * sigmoid(x), elementwise (swish).
public func silu(_ x: any TensorLike) -> Tensor { op(.silu, [x]) }
/// log(1 + e^x), elementwise.
public func softplus(_ x: any TensorLike) -> Tensor { op(.softplus, [x]) }
/// |x|, elementwise.
/// The error function.
public func erf(_ x: any TensorLike) -> Tensor { op(.erf, [x]) }

/// 1 where x > 0, else 0.
public func step(_ x: any TensorLike) -> Tensor { op(.step, [x]) }

public func abs(_ x: any TensorLike) -> Tensor { op(.abs, [x]) }

/// GELU; `approximate: "tanh"` selects the tanh form, the default is the exact erf form.
public func gelu(_ x: any TensorLike, approximate: String = "none") -> Tensor {
    op(.gelu, [x], ["approximate": .symbol(approximate)])
}

/// Batched matrix product over the last two axes, with broadcasting of the batch axes.
public func matmul(_ a: any TensorLike, _ b: any TensorLike) -> Tensor { op(.matmul, [a, b]) }

/// Softmax along `axis`.
public func softmax(_ x: any TensorLike, axis: Int = -1) -> Tensor { op(.softmax, [x], ["axis": .int(axis)]) }
/// Log-softmax along `axis`.
public func logSoftmax(_ x: any TensorLike, axis: Int = -1) -> Tensor { op(.log_softmax, [x], ["axis": .int(axis)]) }

/// Sum over `axes` (negative axes count from the end).
public func sum(_ x: any TensorLike, axes: [Int], keepdims: Bool = false) -> Tensor {
    op(.reduce_sum, [x], ["axes": .ints(axes), "keepdims": .bool(keepdims)])
}
/// Mean over `axes`.
public func mean(_ x: any TensorLike, axes: [Int], keepdims: Bool = false) -> Tensor {
    op(.reduce_mean, [x], ["axes": .ints(axes), "keepdims": .bool(keepdims)])
}
/// Maximum over `axes`.
public func max(_ x: any TensorLike, axes: [Int], keepdims: Bool = false) -> Tensor {
    op(.reduce_max, [x], ["axes": .ints(axes), "keepdims": .bool(keepdims)])
}

/// Reshape; one dimension may be -1 and is inferred from the element count.
public func reshape(_ x: any TensorLike, _ shape: [Int]) -> Tensor {
    let t = x.tensor
    var s = shape
    if let i = s.firstIndex(of: -1) {
        let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
        s[i] = known > 0 ? t.type.elementCount / known : 0
    }
    return op(.reshape, [x], ["shape": .ints(s)])
}

/// Reorders axes: result axis i is input axis perm[i].
public func permute(_ x: any TensorLike, _ perm: [Int]) -> Tensor { op(.permute, [x], ["perm": .ints(perm)]) }

/// Swaps two axes (default: the last two, a matrix transpose).
public func transposed(_ x: any TensorLike, _ a: Int = -2, _ b: Int = -1) -> Tensor {
    let rank = x.tensor.rank
    var perm = Array(0..<rank)
    let (i, j) = (a < 0 ? a + rank : a, b < 0 ? b + rank : b)
    // Out-of-range axes go to the op unchanged so the op table reports them (no trap here).
    guard perm.indices.contains(i), perm.indices.contains(j) else { return op(.permute, [x], ["perm": .ints([a, b])]) }
    perm.swapAt(i, j)
    return op(.permute, [x], ["perm": .ints(perm)])
}

/// Elements start, start+step, ... < end along one axis.
public func slice(_ x: any TensorLike, axis: Int, start: Int, end: Int, step: Int = 1) -> Tensor {
    op(.slice, [x], ["axis": .int(axis), "start": .int(start), "end": .int(end), "step": .int(step)])
}

/// Joins tensors along `axis`; other dimensions must match.
public func concat(_ xs: [any TensorLike], axis: Int) -> Tensor { op(.concat, xs, ["axis": .int(axis)]) }

/// Splits along `axis` into pieces of the given sizes (they must sum to the axis length).
public func split(_ x: any TensorLike, axis: Int, sizes: [Int]) -> [Tensor] {
    let t = x.tensor
    let outs = t.tracer.emit(.split, [t], ["axis": .int(axis), "sizes": .ints(sizes)], params: x.parameters)
    // On error the tracer returns one placeholder; keep the caller's indexing safe.
    return outs.count == sizes.count ? outs : [Tensor](repeating: outs[0], count: sizes.count)
}

/// Numpy-style broadcast to `shape`.
public func broadcast(_ x: any TensorLike, to shape: [Int]) -> Tensor { op(.broadcast, [x], ["shape": .ints(shape)]) }

/// Cumulative sum along `axis` (optionally reversed or exclusive).
public func cumsum(_ x: any TensorLike, axis: Int, reverse: Bool = false, exclusive: Bool = false) -> Tensor {
    op(.cumsum, [x], ["axis": .int(axis), "reverse": .bool(reverse), "exclusive": .bool(exclusive)])
}

/// Layer normalization over the last axis, with optional scale `gamma` and shift `beta`.
public func layerNorm(_ x: any TensorLike, gamma: (any TensorLike)? = nil, beta: (any TensorLike)? = nil, eps: Double = 1e-5) -> Tensor {
    op(.layer_norm, [x] + [gamma, beta].compactMap { $0 }, ["eps": .float(eps)])
}

/// RMS normalization over the last axis, with optional scale `gamma`.
public func rmsNorm(_ x: any TensorLike, gamma: (any TensorLike)? = nil, eps: Double = 1e-6) -> Tensor {
    op(.rms_norm, [x] + [gamma].compactMap { $0 }, ["eps": .float(eps)])
}

/// Gated linear attention (one op for the family; see IR/semantics.md).
/// - Parameters:
///   - gate: `.none`, `.scalar` (g [B,T,H]), `.key` (g [B,T,H,Dk]) or `.delta` (beta [B,T,H]).
///   - g: the log-space gate, or beta for `.delta`; nil for `.none`.
///   - scale: defaults to Dk^-1/2.
/// - Returns: the output [B,T,H,Dv], and the final state when `finalState` is true.
public func linearAttention(q: any TensorLike, k: any TensorLike, v: any TensorLike, gate: LinearAttentionGate = .none,
                            g: (any TensorLike)? = nil, h0: (any TensorLike)? = nil, scale: Double? = nil,
                            finalState: Bool = false) -> [Tensor] {
    let dk = q.tensor.shape.last ?? 1
    let operands: [any TensorLike] = [q, k, v] + [g, h0].compactMap { $0 }
    let attrs: Attributes = ["gate": .symbol(gate.rawValue), "scale": .float(scale ?? 1 / Double(dk).squareRoot()),
                             "final_state": .bool(finalState)]
    let t = q.tensor
    return t.tracer.emit(.linear_attention, operands.map(\.tensor), attrs, params: operands.flatMap(\.parameters))
}

/// x / sqrt(sum(x^2) over the last axis + eps): the L2 normalization DeltaNet applies to q and k.
public func l2Normalize(_ x: any TensorLike, eps: Float = 1e-6) -> Tensor {
    x * rsqrt(sum(x * x, axes: [-1], keepdims: true) + eps)
}
