import KilnIR

// Parameter-free activation layers, for `Sequential` and configuration-chosen activations.

/// max(x, 0) as a layer.
public struct ReLU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { relu(x) } }
/// min(max(x, 0), 6) as a layer.
public struct ReLU6: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { relu6(x) } }
/// x * sigmoid(x) as a layer.
public struct SiLU: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { silu(x) } }
/// sigmoid(x) as a layer.
public struct Sigmoid: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { sigmoid(x) } }
/// tanh(x) as a layer.
public struct Tanh: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { tanh(x) } }
/// log(1 + e^x) as a layer.
public struct Softplus: Layer { public init() {}; public func callAsFunction(_ x: Tensor) -> Tensor { softplus(x) } }

/// GELU, exact (erf) by default or the tanh approximation.
public struct GELU: Layer {
    public let approximate: String
    public init(approximate: String = "none") { self.approximate = approximate }
    public func callAsFunction(_ x: Tensor) -> Tensor { gelu(x, approximate: approximate) }
}
