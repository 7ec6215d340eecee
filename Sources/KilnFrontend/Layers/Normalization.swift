import KilnIR

/// Layer normalization over the last dimension with a learned scale and shift.
public struct LayerNorm: Layer {
    public var weight: Parameter
    public var bias: Parameter
    public let eps: Double

    public init(_ channels: Int, eps: Double = 1e-6) {
        // Not exactly ones/zeros, so tests notice a scale or shift applied wrongly.
        weight = Parameter([channels], .range(0.8, 1.2))
        bias = Parameter([channels], .uniform(0.1))
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, gamma: weight, beta: bias, eps: eps) }
}

/// RMS normalization over the last dimension with a learned scale.
public struct RMSNorm: Layer {
    public var weight: Parameter
    public let eps: Double

    public init(_ channels: Int, eps: Double = 1e-6) {
        weight = Parameter([channels], .range(0.8, 1.2))
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, gamma: weight, eps: eps) }
}

/// Batch normalization over the last (channel) axis. Inference uses the running
/// statistics (parameters here); `training` uses the batch statistics.
public struct BatchNorm: Layer {
    public var weight: Parameter
    public var bias: Parameter
    public var runningMean: Parameter
    public var runningVar: Parameter
    public let eps: Double
    public let training: Bool

    public init(_ channels: Int, eps: Double = 1e-5, training: Bool = false) {
        weight = Parameter([channels], .range(0.8, 1.2))
        bias = Parameter([channels], .uniform(0.1))
        runningMean = Parameter([channels], .uniform(0.1))
        runningVar = Parameter([channels], .range(0.5, 1.5))
        self.eps = eps
        self.training = training
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        op(.batch_norm, [x, weight, bias, runningMean, runningVar], ["eps": .float(eps), "training": .bool(training)])
    }
}
