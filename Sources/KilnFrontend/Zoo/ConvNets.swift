import KilnIR

/// ConvNeXt block: depthwise k x k -> LayerNorm -> Linear C->eC -> GELU -> Linear eC->C -> layer scale -> + x.
public struct ConvNeXtBlock: Layer {
    public var dwconv: Conv2D
    public var norm: LayerNorm
    public var pwconv1: Linear
    public var pwconv2: Linear
    public var gamma: Parameter

    public init(channels c: Int, kernel: Int = 7, expansion: Int = 4) {
        dwconv = Conv2D(c, c, kernel: (kernel, kernel), groups: c)
        norm = LayerNorm(c)
        pwconv1 = Linear(c, expansion * c)
        pwconv2 = Linear(expansion * c, c)
        // Layer scale; 0.1 rather than ConvNeXt's 1e-6 so the block is far from identity in tests.
        gamma = Parameter([c], .range(0.05, 0.15))
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x + pwconv2(gelu(pwconv1(norm(dwconv(x))))) * gamma
    }
}

/// The activation inside an inverted residual block.
public enum BlockActivation: String, Sendable {
    case relu6, silu, relu, gelu

    func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .relu6: return KilnFrontend.relu6(x)
        case .silu: return KilnFrontend.silu(x)
        case .relu: return KilnFrontend.relu(x)
        case .gelu: return KilnFrontend.gelu(x)
        }
    }
}

/// MobileNetV2 inverted residual (stride 1): 1x1 expand -> BN -> act -> dw k x k -> BN -> act -> 1x1 project -> BN -> + x.
public struct InvertedResidualBlock: Layer {
    public var expand: Conv2D
    public var bn1: BatchNorm
    public var dwconv: Conv2D
    public var bn2: BatchNorm
    public var project: Conv2D
    public var bn3: BatchNorm
    public let activation: BlockActivation

    public init(channels c: Int, expansion: Int = 6, kernel: Int = 3, activation: BlockActivation = .relu6) {
        let h = c * expansion
        expand = Conv2D(c, h, kernel: (1, 1), bias: false)
        bn1 = BatchNorm(h)
        dwconv = Conv2D(h, h, kernel: (kernel, kernel), groups: h, bias: false)
        bn2 = BatchNorm(h)
        project = Conv2D(h, c, kernel: (1, 1), bias: false)
        bn3 = BatchNorm(c)
        self.activation = activation
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = activation.apply(bn1(expand(x)))
        let d = activation.apply(bn2(dwconv(h)))
        return x + bn3(project(d))
    }
}

/// ResNet basic block: conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> + x -> ReLU.
public struct ResNetBasicBlock: Layer {
    public var conv1: Conv2D
    public var bn1: BatchNorm
    public var conv2: Conv2D
    public var bn2: BatchNorm

    public init(channels c: Int) {
        conv1 = Conv2D(c, c, kernel: (3, 3), bias: false)
        bn1 = BatchNorm(c)
        conv2 = Conv2D(c, c, kernel: (3, 3), bias: false)
        bn2 = BatchNorm(c)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        relu(x + bn2(conv2(relu(bn1(conv1(x))))))
    }
}
