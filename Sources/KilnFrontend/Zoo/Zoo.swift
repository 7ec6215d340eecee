import KilnIR

/// A named model of the zoo: how to build it and its default input.
public struct ZooModel: Sendable {
    public let name: String
    public let summary: String
    public let defaultInput: TensorType
    let make: @Sendable () -> any Layer

    /// Traces the model at `input` (default: `defaultInput`); parameters seeded by `seed`.
    public func trace(input: TensorType? = nil, seed: UInt64 = 0) throws -> TracedModel {
        try KilnFrontend.trace(make(), input: input ?? defaultInput,
                               name: name.replacingOccurrences(of: "-", with: "_"), seed: seed)
    }
}

/// The model zoo used by the CLI, tests and benchmarks.
public enum Zoo {
    public static let models: [ZooModel] = [
        ZooModel(name: "convnext-block", summary: "ConvNeXt block: dw 7x7, LayerNorm, 4x MLP, layer scale, residual (C=96)",
                 defaultInput: .f32(1, 56, 56, 96)) { ConvNeXtBlock(channels: 96) },
        ZooModel(name: "mobilenetv2-block", summary: "MobileNetV2 inverted residual 24->144->24, BN, ReLU6",
                 defaultInput: .f32(1, 56, 56, 24)) { InvertedResidualBlock(channels: 24) },
        ZooModel(name: "resnet-basic-block", summary: "ResNet basic block, 64 channels",
                 defaultInput: .f32(1, 56, 56, 64)) { ResNetBasicBlock(channels: 64) },
        ZooModel(name: "hornet-block", summary: "HorNet block: gnConv order 3 + MLP sub-block (C=64)",
                 defaultInput: .f32(1, 56, 56, 64)) { HorNetBlock(channels: 64) },
        ZooModel(name: "inceptionnext-block", summary: "InceptionNeXt: identity/3x3/1x11/11x1 dw branches + MLP (C=96)",
                 defaultInput: .f32(1, 56, 56, 96)) { InceptionNeXtBlock(channels: 96) },
        ZooModel(name: "ffn-block", summary: "pre-norm transformer FFN, d=512, 4x, GELU",
                 defaultInput: .f32(1, 1024, 512)) { FFNBlock(dim: 512) },
        ZooModel(name: "gla-block", summary: "GLA block: key-gated linear attention (H=4, D=128) + SwiGLU FFN",
                 defaultInput: .f32(1, 1024, 512)) { GLABlock(dim: 512, heads: 4, headDim: 128, ffnHidden: 1024) },
        ZooModel(name: "deltanet-layer", summary: "DeltaNet layer: L2-normalized q,k, sigmoid beta (H=4, D=128)",
                 defaultInput: .f32(1, 1024, 512)) { DeltaNetAttention(dim: 512, heads: 4, headDim: 128) },
        ZooModel(name: "retnet-layer", summary: "RetNet layer: fixed scalar decay per head (H=4, D=128)",
                 defaultInput: .f32(1, 1024, 512)) { RetentionAttention(dim: 512, heads: 4, headDim: 128) },
        ZooModel(name: "tcn-block", summary: "TCN block: causal dilated conv1d (k=3, d=1,2,4) + residual, 128 ch",
                 defaultInput: .f32(1, 1024, 128)) { TCNBlock(channels: 128) },
        ZooModel(name: "recursive-ffn", summary: "one FFN body applied 4 times with shared weights (repeat)",
                 defaultInput: .f32(1, 1024, 512)) { Repeat(count: 4, FFNBlock(dim: 512)) },
    ]

    public static func model(named name: String) -> ZooModel? { models.first { $0.name == name } }
}
