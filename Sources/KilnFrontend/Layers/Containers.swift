import KilnIR

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
