import Foundation

/// Trains a task's model: compiled (or interpreted) gradients, then a compiled optimizer update.
public final class Trainer {
    public let task: TrainingTask
    public let batchSize: Int
    public let optimizer: OptimizerConfig
    public let seed: UInt64
    public let interpret: Bool
    public private(set) var parameters: [String: HostTensor]
    public private(set) var step = 0
    let paramNames: [String]
    let gradFunction: Function
    let updateFunction: Function
    var states: [String: HostTensor] = [:]
    var gradExe: Executable?
    var updateExe: Executable?

    public init(task: TrainingTask, batchSize: Int, optimizer: OptimizerConfig, seed: UInt64 = 0, interpret: Bool = false, threads: Int? = nil) throws {
        guard batchSize > 0 else { throw KilnError("--batch must be positive") }
        self.task = task
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.seed = seed
        self.interpret = interpret
        let traced = try trace(task.makeModel(), input: task.inputShape(batchSize), name: task.name.replacingOccurrences(of: "-", with: "_"), seed: seed)
        let loss = try LossFunction.crossEntropy(traced.function, labelledRows: task.labelledRowsPerExample.map { $0 * batchSize })
        paramNames = loss.params.map { loss.name(of: $0) }
        gradFunction = try gradient(of: loss, wrt: paramNames)
        var p: [String: HostTensor] = [:]
        for (n, t) in traced.parameters { p[n] = t }
        parameters = p
        let types = paramNames.map { ($0, p[$0]!.type) }
        updateFunction = try OptimizerGraph.build(types, optimizer)
        for s in 0..<optimizer.statesPerParam { for (n, t) in types { states["state\(s)." + n] = HostTensor(zeros: t) } }
        if !interpret {
            gradExe = try Executable(gradFunction, threads: threads)
            updateExe = try Executable(updateFunction, threads: threads)
        }
    }

    func run(_ f: Function, _ exe: Executable?, _ inputs: [String: HostTensor]) throws -> [HostTensor] {
        try exe.map { try $0.run(inputs) } ?? Interpreter().run(f, inputs: inputs)
    }

    /// One optimization step on the next batch; returns the loss before the update.
    @discardableResult
    public func trainStep() throws -> Double {
        let (x, labels) = task.makeBatch(batchSize, step, seed)
        // One row per label; -1 marks a row without a target (all zeros).
        var onehot = [Float](repeating: 0, count: labels.count * task.classes)
        for (i, c) in labels.enumerated() where c >= 0 { onehot[i * task.classes + c] = 1 }
        var inputs = parameters
        inputs["x"] = x
        inputs["labels"] = HostTensor(shape: [labels.count, task.classes], floats: onehot)
        let out = try run(gradFunction, gradExe, inputs)
        step += 1
        var upd = states
        for (i, n) in paramNames.enumerated() {
            upd[n] = parameters[n]!
            upd["grad." + n] = out[i + 1]
        }
        upd["c1"] = HostTensor(shape: [], floats: [Float(1 / (1 - pow(optimizer.beta1, Double(step))))])
        upd["c2"] = HostTensor(shape: [], floats: [Float(1 / (1 - pow(optimizer.beta2, Double(step))))])
        let next = try run(updateFunction, updateExe, upd)
        for (i, n) in paramNames.enumerated() { parameters[n] = next[i] }
        for s in 0..<optimizer.statesPerParam {
            for (i, n) in paramNames.enumerated() { states["state\(s)." + n] = next[paramNames.count * (s + 1) + i] }
        }
        return out[0].doubles[0]
    }
}
