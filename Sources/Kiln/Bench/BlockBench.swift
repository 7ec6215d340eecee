import Foundation
import KilnAutodiff
import KilnFrontend
import KilnIR
import KilnPasses
import KilnRuntime

/// Issue #5's benchmark: residual blocks of the zoo, fused against unfused.
///
/// - fused: `PassPipeline.all` (with the measured machine and thread count), then Kiln's
///   compiled executor;
/// - unfused: the original function, one kernel per op, GEMMs through OpenBLAS.
///
/// Both run on the same seeded parameters (the zoo's initialization) and random inputs;
/// their results must agree before either is timed. Forward+backward is the scalar loss
/// of `LossFunction.wrap` and its gradients for every parameter, as one function.
public struct BlockBench: BenchSuite {
    public init() {}

    public var suiteName: String { "blocks" }

    public var names: [String] {
        ["convnext-block", "mobilenetv2-block", "resnet-basic-block", "ffn-block", "hornet-block", "inceptionnext-block"]
    }

    /// Tokens per sequence for `ffn-block`: the issue's transformer-sized FFN (4096 × 512),
    /// rather than the zoo's 1024-token default.
    public static let ffnTokens = 4096

    /// Largest relative error (to the result's largest entry) between fused and unfused.
    public static let tolerance = 2e-3

    /// The block's input at `batch`: the zoo default with its batch replaced, except
    /// ffn-block, which is `[batch, 4096, 512]`.
    public static func inputShape(of model: ZooModel, batch: Int) -> [Int] {
        if model.name == "ffn-block" { return [batch, ffnTokens, model.defaultInput.shape[2]] }
        return [batch] + model.defaultInput.shape.dropFirst()
    }

    public func records(for name: String, config: BenchConfig, machine: MeasuredMachine) throws -> [BenchRecord] {
        guard names.contains(name), let model = Zoo.model(named: name) else {
            throw KilnError("'\(name)' is not a block benchmark; blocks: \(names.joined(separator: ", "))")
        }
        var records: [BenchRecord] = []
        for batch in config.batches {
            let traced = try model.trace(input: TensorType(.f32, Self.inputShape(of: model, batch: batch)), seed: config.seed)
            let defaults = Dictionary(traced.parameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            for direction in config.directions {
                let f = try Self.function(traced.function, direction: direction)
                records += try measure(f, name: name, direction: direction, batch: batch, defaults: defaults,
                                       config: config, machine: machine)
            }
        }
        return records
    }

    /// The function benchmarked for a direction.
    public static func function(_ forward: Function, direction: BenchDirection) throws -> Function {
        switch direction {
        case .forward:
            return forward
        case .forwardBackward:
            let (loss, _) = try LossFunction.wrap(forward)
            return try gradient(of: loss, wrt: loss.params.map { loss.name(of: $0) })
        }
    }

    /// Both variants of one configuration: check agreement, time each, one record each.
    func measure(_ f: Function, name: String, direction: BenchDirection, batch: Int, defaults: [String: HostTensor],
                 config: BenchConfig, machine: MeasuredMachine) throws -> [BenchRecord] {
        let t = config.threads
        let what = "\(name) \(direction.rawValue) batch \(batch) threads \(t)"
        config.progress("\(what): compiling")
        let values = try ArgumentBinder.bind(function: f, params: nil, defaults: defaults, inputs: [:], seed: config.seed).values
        let fusedFunction = try PassPipeline.all.run(f, context: PassContext(machine: machine.model, threads: t)).function
        let fused = try Executable(fusedFunction, kind: .compiled, threads: t)
        let unfused = try Executable(f, kind: .unfused, threads: t)

        let reference = try unfused.run(values)
        try OutputAgreement.check(try fused.run(values), against: reference, tolerance: Self.tolerance,
                                  what: "\(what): fused vs unfused", names: f.results.map { f.name(of: $0) })

        config.progress("\(what): timing")
        let tf = try config.timer.measure { _ = try fused.run(values) }
        let tu = try config.timer.measure { _ = try unfused.run(values) }
        let roof = RooflineBound(function: f, machine: machine)
        let flops = f.flops

        func record(_ variant: BenchVariant, _ exe: Executable, _ s: TimingSample, ratio: Double?) -> BenchRecord {
            BenchRecord(name: name, direction: direction, batch: batch, threads: t, variant: variant,
                        medianMs: s.median * 1e3, gflops: flops / s.median / 1e9, sgemmGflops: machine.sgemmGflops,
                        rooflineMs: roof.seconds * 1e3, bandwidthGbps: machine.bandwidthGBps,
                        kernels: exe.program.kernelLaunches, peakBytes: exe.peakArenaBytes, ratio: ratio,
                        minMs: s.min * 1e3, runs: s.runs)
        }
        let r = [record(.fused, fused, tf, ratio: tu.median / tf.median), record(.unfused, unfused, tu, ratio: nil)]
        config.progress(String(format: "%@: fused %.3f ms, unfused %.3f ms (%.2fx), roofline %.3f ms (%@-bound)",
                               what, r[0].medianMs, r[1].medianMs, tu.median / tf.median, r[0].rooflineMs, roof.limitedBy))
        return r
    }
}
