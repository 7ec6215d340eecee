import KilnIR

/// Looks up rows of a [vocab, dim] table by i32 ids.
public struct Embedding: Layer {
    public var weight: Parameter

    public init(vocab: Int, dim: Int) {
        weight = Parameter([vocab, dim], .uniform(1))
    }

    public func callAsFunction(_ ids: Tensor) -> Tensor { op(.embedding, [weight, ids]) }
}
