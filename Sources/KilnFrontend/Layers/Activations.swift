import KilnIR

// Parameter-free activation layers, for `Sequential` and configuration-chosen activations.

public struct ReLU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { relu(x) } }
public struct ReLU6: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { relu6(x) } }
public struct SiLU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { silu(x) } }
public struct Sigmoid: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { sigmoid(x) } }
public struct Tanh: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { tanh(x) } }
public struct Softplus: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { softplus(x) } }

/// GELU, exact (erf) by default or the tanh approximation.
public struct GELU: Layer {
    public let approximate: String
    public init(approximate: String = "none") { self.approximate = approximate }
    public func callAsFunction(_ x: Tensor) -> Tensor { gelu(x, approximate: approximate) }
}
