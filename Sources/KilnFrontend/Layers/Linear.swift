import KilnIR

/// y = x @ weight + bias, with weight stored [in, out].
public struct Linear: Layer {
    public var weight: Parameter
    public var bias: Parameter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        let bound = 1 / Double(inFeatures).squareRoot()
        weight = Parameter([inFeatures, outFeatures], .uniform(bound))
        self.bias = bias ? Parameter([outFeatures], .uniform(bound)) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        op(.linear, [x, weight] + [bias].compactMap { $0 })
    }
}

/// Looks up rows of a [vocab, dim] table by i32 ids.
public struct Embedding: Layer {
    public var weight: Parameter

    public init(vocab: Int, dim: Int) {
        weight = Parameter([vocab, dim], .uniform(1))
    }

    public func callAsFunction(_ ids: Tensor) -> Tensor { op(.embedding, [weight, ids]) }
}

/// Applies layers in order.
public struct Sequential: Layer {
    public var layers: [any Layer]

    public init(_ layers: [any Layer]) { self.layers = layers }

    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

/// A parameter-free function as a layer (activations and other glue).
public struct Lambda: Layer {
    let body: (Tensor) -> Tensor
    public init(_ body: @escaping (Tensor) -> Tensor) { self.body = body }
    public func callAsFunction(_ x: Tensor) -> Tensor { body(x) }
}

public struct ReLU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { relu(x) } }
public struct ReLU6: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { relu6(x) } }
public struct GELU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { gelu(x) } }
public struct SiLU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { silu(x) } }
