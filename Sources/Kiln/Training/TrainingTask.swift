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

    public static let all: [TrainingTask] = [convnetSynthetic, glaMQAR]
    /// Rows of the logits that carry a label per example (nil: every row).
    var labelledRowsPerExample: Int? = nil
    /// AdamW learning rate that works for this task.
    public var defaultLearningRate = 0.02

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

extension TrainingTask {
    /// Multi-query associative recall: 4 key-value pairs (keys 0-7, values 8-15), then the 4 keys
    /// again in random order; at each query the model must output that key's value. The model
    /// is an embedding, one GLA block and a linear head over the 16 tokens.
    public static let glaMQAR: TrainingTask = {
        let pairs = 4, t = 3 * pairs
        var task = TrainingTask(
            name: "gla-mqar",
            summary: "GLA block on multi-query associative recall (4 key-value pairs, 16 tokens)",
            classes: 16,
            inputShape: { TensorType(.i32, [$0, t]) },
            makeModel: { MQARModel(vocab: 16, dim: 64) },
            makeBatch: { size, step, seed in
                var rng = SeededRandom(seed: seed &+ UInt64(step) &* 104729, name: "mqar")
                var ids: [Int32] = [], labels: [Int] = []
                for _ in 0..<size {
                    var keys = Array(0..<8)
                    for i in stride(from: 7, to: 0, by: -1) { keys.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                    let chosen = Array(keys.prefix(pairs)), values = chosen.map { _ in 8 + Int(rng.next() % 8) }
                    var order = Array(0..<pairs)
                    for i in stride(from: pairs - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                    for p in 0..<pairs { ids += [Int32(chosen[p]), Int32(values[p])]; labels += [-1, -1] }
                    for p in order { ids.append(Int32(chosen[p])); labels.append(values[p]) }
                }
                return (HostTensor(shape: [size, t], ints: ids), labels)
            })
        task.labelledRowsPerExample = pairs
        task.defaultLearningRate = 0.005
        return task
    }()
}

/// Embedding -> GLA block -> linear head; logits flattened to [batch * T, vocab].
public struct MQARModel: Layer {
    public var embed: Embedding
    public var block: GLABlock
    public var head: Linear

    public init(vocab: Int, dim: Int) {
        embed = Embedding(vocab: vocab, dim: dim)
        block = GLABlock(dim: dim, heads: 2, headDim: dim / 2, ffnHidden: 2 * dim)
        head = Linear(dim, vocab)
    }

    public func callAsFunction(_ ids: Tensor) -> Tensor {
        let logits = head(block(embed(ids)))
        let s = logits.shape
        return reshape(logits, [s[0] * s[1], s[2]])
    }
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
    public static func crossEntropy(_ f: Function, labelledRows: Int? = nil) throws -> Function {
        let logitsType = f.type(of: f.results[0])
        guard logitsType.rank == 2 else { throw KilnError("cross-entropy needs logits [batch, classes], got \(logitsType)") }
        let b = FunctionBuilder(name: f.name + "_xent")
        let logits = try b.appendCopy(of: f)[0]
        let labels = try b.addInput("labels", logitsType)
        let logp = try b.add1(.log_softmax, [logits], attributes: ["axis": .int(-1)])
        let total = try b.add1(.reduce_sum, [try b.add1(.mul, [logp, labels])], attributes: ["axes": .ints([0, 1])])
        let scale = try b.add1(.constant, [], attributes: ["shape": .ints([]), "value": .float(-1 / Double(labelledRows ?? logitsType.shape[0]))])
        return b.finish(results: [try b.add1(.mul, [total, scale])])
    }
}
