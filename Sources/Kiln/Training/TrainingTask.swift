import Foundation

/// A seeded synthetic classification task: a model, and batches of (input, one-hot label).
public struct TrainingTask: Sendable {
    public let name: String
    public let summary: String
    public let classes: Int
    let inputShape: @Sendable (Int) -> TensorType
    let makeModel: @Sendable () -> any Layer
    /// batch(size, step, seed) -> (inputs, labels as class indices)
    let makeBatch: @Sendable (Int, Int, UInt64) -> (HostTensor, [Int])

    public static let all: [TrainingTask] = [convnetSynthetic]

    public static func named(_ name: String) -> TrainingTask? { all.first { $0.name == name } }

    /// Four classes of 12x12 RGB images: each class is a fixed random pattern, every example
    /// that pattern plus noise of 80% of its amplitude. A small conv net built from zoo blocks
    /// (conv stem, a ConvNeXt block, global average pooling, linear head) classifies them.
    public static let convnetSynthetic = TrainingTask(
        name: "convnet-synthetic",
        summary: "conv stem + ConvNeXt block + pooling + linear, 4 classes of noisy 12x12 patterns",
        classes: 4,
        inputShape: { .f32($0, 12, 12, 3) },
        makeModel: { SyntheticConvNet(channels: 16, classes: 4) },
        makeBatch: { size, step, seed in
            var templates = SeededRandom(seed: seed, name: "templates")
            let pattern = (0..<4).map { _ in (0..<(12 * 12 * 3)).map { _ in templates.uniform(-1, 1) } }
            var rng = SeededRandom(seed: seed &+ UInt64(step) &* 7919, name: "batch")
            var data: [Float] = [], labels: [Int] = []
            for _ in 0..<size {
                let c = Int(rng.next() % 4)
                labels.append(c)
                data += pattern[c].map { Float($0 + 0.8 * rng.uniform(-1, 1)) }
            }
            return (HostTensor(shape: [size, 12, 12, 3], floats: data), labels)
        })
}

/// The classifier of `convnet-synthetic`.
public struct SyntheticConvNet: Layer {
    public var stem: Conv2D
    public var block: ConvNeXtBlock
    public var head: Linear

    public init(channels: Int, classes: Int) {
        stem = Conv2D(3, channels, kernel: (3, 3))
        block = ConvNeXtBlock(channels: channels, kernel: 3, expansion: 2)
        head = Linear(channels, classes)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        head(mean(block(relu(stem(x))), axes: [1, 2]))
    }
}

extension LossFunction {
    /// Cross-entropy of logits [B, K] against one-hot `labels` [B, K] (an input), mean over B.
    public static func crossEntropy(_ f: Function) throws -> Function {
        let logitsType = f.type(of: f.results[0])
        guard logitsType.rank == 2 else { throw KilnError("cross-entropy needs logits [batch, classes], got \(logitsType)") }
        let b = FunctionBuilder(name: f.name + "_xent")
        let logits = try b.appendCopy(of: f)[0]
        let labels = try b.addInput("labels", logitsType)
        let logp = try b.add1(.log_softmax, [logits], attributes: ["axis": .int(-1)])
        let total = try b.add1(.reduce_sum, [try b.add1(.mul, [logp, labels])], attributes: ["axes": .ints([0, 1])])
        let scale = try b.add1(.constant, [], attributes: ["shape": .ints([]), "value": .float(-1 / Double(logitsType.shape[0]))])
        return b.finish(results: [try b.add1(.mul, [total, scale])])
    }
}
