/// The closed set of Graph IR operations. The raw value is the op's name in IR text.
///
/// Adding an op means: a case here, an entry in `OpInfo.table` (arity, attributes,
/// shape rule, cost), and then the printer/parser (automatic), the interpreter, the VJP
/// rules and codegen. `IR/README.md` lists every file an op touches.
public enum OpKind: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    // Sources
    case constant
    // Elementwise unary
    case neg, exp, log, sqrt, rsqrt, tanh, sigmoid, logsigmoid
    case relu, relu6, gelu, silu, softplus, abs, erf
    /// Heaviside step: 1 where x > 0, else 0 (masks in gradients).
    case step
    // Elementwise binary, with numpy-style broadcasting
    case add, sub, mul, div, max, min
    // Contractions
    case matmul, linear, embedding
    // Convolutions and pooling (images NHWC, sequences NTC)
    case conv2d, conv1d, max_pool2d, avg_pool2d
    // Gradients of conv2d (used by autodiff; ordinary ops otherwise)
    case conv2d_backward_input, conv2d_backward_weight, max_pool2d_backward, embedding_backward
    // Normalizations
    case layer_norm, rms_norm, batch_norm, softmax, log_softmax
    // Reductions
    case reduce_sum, reduce_mean, reduce_max
    // Layout
    case reshape, permute, slice, concat, split, broadcast
    // Scans and sequence mixers
    case cumsum, linear_attention, linear_attention_backward
    // Regions
    case `repeat`, fused

    public var description: String { rawValue }

    /// The op's metadata entry.
    public var info: OpInfo { OpInfo.table[self]! }
}

/// Broad families, used by passes (what is pointwise?) and by the printer's docs.
public enum OpCategory: String, Sendable {
    case source, unary, binary, contraction, convolution, pooling
    case normalization, reduction, layout, scan, region
}
