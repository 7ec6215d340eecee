import ArgumentParser
import Foundation
import Kiln

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on a seeded synthetic task with compiled gradients and optimizer updates.",
        discussion: """
        Tasks: \(TrainingTask.all.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")).

        Examples:
          kiln train convnet-synthetic --steps 60
          kiln train convnet-synthetic --steps 80 --optimizer sgd --lr 0.2 --batch 32
          kiln train gla-mqar --steps 1500 --batch 32 --lr 0.003
        """
    )

    @Argument(help: "The task to train.")
    var task: String

    @Option(help: "Optimization steps.") var steps = 60
    @Option(help: "Examples per step.") var batch = 16
    @Option(help: "sgd (momentum 0.9) or adamw.") var optimizer = "adamw"
    @Option(help: "Learning rate (default: the task's AdamW rate, 0.2 for SGD).") var lr: Double?
    @Option(help: "Seed for data and initialization.") var seed: UInt64 = 0
    @Option(help: "Threads (default: KILN_THREADS or all cores).") var threads: Int?
    @Flag(help: "Use the reference interpreter instead of compiled kernels.") var interpret = false

    func run() throws {
        try reportingErrors {
            guard let t = TrainingTask.named(task) else {
                throw KilnError("unknown task '\(task)'; tasks: \(TrainingTask.all.map(\.name).joined(separator: ", "))")
            }
            guard let kind = OptimizerKind(rawValue: optimizer) else { throw KilnError("--optimizer must be sgd or adamw") }
            guard steps > 0 else { throw KilnError("--steps must be positive") }
            let cfg = OptimizerConfig(kind: kind, learningRate: lr ?? (kind == .adamw ? t.defaultLearningRate : 0.2))
            let start = Date()
            let trainer = try Trainer(task: t, batchSize: batch, optimizer: cfg, seed: seed, interpret: interpret, threads: threads)
            note(String(format: "%@: %d parameters, %@ lr %g, batch %d; compiled in %.2f s", t.name,
                        trainer.parameters.values.reduce(0) { $0 + $1.elementCount }, kind.rawValue, cfg.learningRate, batch,
                        Date().timeIntervalSince(start)))
            let loopStart = Date()
            var first = 0.0, last = 0.0
            for s in 1...steps {
                let loss = try trainer.trainStep()
                if s == 1 { first = loss }
                last = loss
                if s == 1 || s == steps || s % max(steps / 10, 1) == 0 {
                    let rate = Double(s * batch) / Date().timeIntervalSince(loopStart)
                    print(String(format: "step %4d  loss %.4f  %.0f examples/s", s, loss, rate))
                }
            }
            print(String(format: "initial loss %.4f, final loss %.4f (%.1f%%) after %d steps in %.2f s", first, last, 100 * last / first,
                         steps, Date().timeIntervalSince(loopStart)))
        }
    }
}
