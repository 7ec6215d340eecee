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

    /// Size of the sgemm timed alongside each configuration (1024³: 2 GFLOP, tens of
    /// milliseconds, so it can run between the variants' runs).
    public static let probeSize = 1024

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
            if name == "ffn-block" && batch > 1 && !config.includeLarge {
                config.progress("ffn-block batch \(batch) skipped: \(batch) x \(Self.ffnTokens) tokens is the batch-1 token-wise work \(batch) times over (minutes per configuration); --include-large runs it")
                continue
            }
            let traced = try model.trace(input: TensorType(.f32, Self.inputShape(of: model, batch: batch)), seed: config.seed)
            let defaults = Dictionary(traced.parameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
            for direction in config.directions {
                do {
                    let f = try Self.function(traced.function, direction: direction)
                    records += try measure(f, name: name, direction: direction, batch: batch, defaults: defaults,
                                           config: config, machine: machine)
                } catch {
                    config.reportFailure("\(error)")
                }
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

    /// Readable result names for failures: a gradient function returns the loss, then the
    /// gradient of each parameter in order (`gradient(of:wrt:)`), whose IR names are numbers.
    static func resultNames(of f: Function, direction: BenchDirection) -> [String] {
        switch direction {
        case .forward: return f.results.map { f.name(of: $0) }
        case .forwardBackward: return ["loss"] + f.params.map { "gradient of " + f.name(of: $0) }
        }
    }

    /// Both variants of one configuration: compile, check agreement, time, one record each.
    func measure(_ f: Function, name: String, direction: BenchDirection, batch: Int, defaults: [String: HostTensor],
                 config: BenchConfig, machine: MeasuredMachine) throws -> [BenchRecord] {
        let t = config.threads
        let c = BenchConfiguration(name: name, direction: direction, batch: batch)
        config.progress("\(c.label) threads \(t): compiling")
        let values = try ArgumentBinder.bind(function: f, params: nil, defaults: defaults, inputs: [:], seed: config.seed).values
        let fusedFunction = try PassPipeline.all.run(f, context: PassContext(machine: machine.model, threads: t)).function
        let fused = try Executable(fusedFunction, kind: .compiled, threads: t)
        let unfused = try Executable(f, kind: .unfused, threads: t)
        // The compute roof is an sgemm timed between the variants' runs, under the same load.
        let r = try VariantBench.measure([VariantRun(.fused, fused), VariantRun(.unfused, unfused)], reference: 1,
                                         inputs: values, configuration: c, flops: f.flops,
                                         roofline: RooflineBound(function: f, machine: machine),
                                         tolerance: Self.tolerance, config: config, machine: machine,
                                         resultNames: Self.resultNames(of: f, direction: direction),
                                         probe: SgemmProbe(size: Self.probeSize, threads: t))
        config.progress(String(format: "%@ threads %d: fused %.3f ms, unfused %.3f ms (%.2fx), roofline %.3f ms, sgemm %.1f GFLOP/s alongside",
                               c.label, t, r[0].medianMs, r[1].medianMs, r[0].ratio ?? 0, r[0].rooflineMs, r[0].sgemmGflops))
        return r
    }
}
