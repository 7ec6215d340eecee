import ArgumentParser
import Foundation
import Kiln

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on given or seeded random inputs and summarize (or save) the results.",
        discussion: """
        Parameters come from --params (a .safetensors file whose tensor names are the dotted
        parameter paths), else from the zoo model's seeded initialization, else seeded random
        values. Missing inputs get seeded random values. Kiln says which it made up.

        Executors: --compiled (default: Kiln's JIT kernels and GEMM micro-kernel), --unfused
        (one kernel per op, GEMMs through OpenBLAS: the eager-framework baseline) and
        --interpret (the reference interpreter). --threads or KILN_THREADS sets the thread count.

        Examples:
          kiln run convnext-block
          kiln run IR/models/ffn-block.kir --params ffn.safetensors --input x=x.npy --output y.npy
          kiln run gla-block --shape 1x64x512 --interpret --fp64
          kiln run convnext-block --unfused --threads 1
          kiln run convnext-block --shape 8x56x56x96 --grad --profile --threads 2

        --grad runs the training graph instead: the loss sum(y * y) / 2 of the first result
        (a scalar result is its own loss), so the output cotangent is y, and the gradient of
        every parameter (the results are the loss, then the gradients). --profile prints the
        median time of every kernel and GEMM call (over --repeat runs, at least 5) with its
        share of the total, and a summary per op. --ab-env KEY=VALUE compiles the model a second
        time with KEY=VALUE in the environment and times both in alternating rounds, for codegen
        experiments that read it (on a shared machine, separate runs cannot resolve a 5% change).
        """
    )

    @OptionGroup var options: ModelOptions

    @OptionGroup var files: TensorFileOptions

    @Option(help: "Write the results: a .npy file (one result) or a .safetensors file (all results).")
    var output: String?

    @Flag(help: "Run Kiln's compiled kernels (the default).")
    var compiled = false

    @Flag(help: "Run one kernel per op with OpenBLAS GEMMs (the baseline).")
    var unfused = false

    @Flag(help: "Use the reference interpreter.")
    var interpret = false

    @Flag(help: "Interpret in double precision (implies --interpret).")
    var fp64 = false

    @Option(help: "Threads for the compiled and unfused executors (default: KILN_THREADS or all cores).")
    var threads: Int?

    @Flag(help: "Compile the graph as traced, without the pass pipeline (no block fusion, no linear-attention scheduling).")
    var noPasses = false

    @Option(name: .customLong("pass-option"), help: "A pass option KEY=VALUE, e.g. share-linear-attention-states=off (repeatable).")
    var passOptions: [String] = []

    @Option(name: .customLong("repeat"), help: "Run N times and report the median time (the first run is a warm-up).")
    var repeatCount: Int = 1

    @Flag(help: "Run the training graph: loss sum(y*y)/2 (forward) and the gradient of every parameter (backward).")
    var grad = false

    @Flag(help: "Print the median time of each kernel and GEMM call, and a summary per op (compiled and unfused executors).")
    var profile = false

    @Option(name: .customLong("ab-env"), help: ArgumentHelp(
        "Also compile with KEY=VALUE in the environment and time both builds in alternating rounds (--repeat, default 20).",
        discussion: "For experiments that read an environment variable in the passes or while lowering: the passes run again for the second build."))
    var abEnv: String?

    func validate() throws {
        if noPasses && !passOptions.isEmpty { throw ValidationError("--pass-option configures the pass pipeline; it does not apply with --no-passes") }
        if profile && (interpret || fp64) { throw ValidationError("--profile times compiled kernels; it does not apply to --interpret") }
        if [compiled, unfused, interpret || fp64].filter({ $0 }).count > 1 {
            throw ValidationError("choose one of --compiled, --unfused, --interpret")
        }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
        if repeatCount < 1 || repeatCount > 100_000 { throw ValidationError("--repeat must be between 1 and 100000") }
        if abEnv != nil && (interpret || fp64) { throw ValidationError("--ab-env compares two compiled builds; it does not apply to --interpret") }
        if let abEnv {
            do { _ = try ABExperiment(parsing: abEnv) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() throws {
        try reportingErrors {
            let model = try options.load()
            var f = model.function
            if grad {
                let (lossFn, how) = try LossFunction.wrap(f)
                f = try gradient(of: lossFn, wrt: lossFn.params.map { lossFn.name(of: $0) })
                note("--grad: loss = \(how); results: the loss, then the gradient of each of \(lossFn.params.count) parameters")
            }
            let (paramValues, given) = try files.load(for: f)
            let bound = try ArgumentBinder.bind(function: f, params: paramValues, defaults: model.parameters,
                                                inputs: given, paramsFile: files.params ?? "params", seed: options.seed)
            if !bound.generatedParams.isEmpty {
                note("note: \(bound.generatedParams.count) parameters have no values; using seeded random values (seed \(options.seed))")
            } else if paramValues == nil && !f.params.isEmpty {
                note("note: using the zoo model's seeded initial parameters (seed \(options.seed))")
            }
            for name in bound.randomInputs {
                note("note: input '\(name)' not given; using seeded random values (seed \(options.seed))")
            }
            let results: [HostTensor]
            if interpret || fp64 {
                let start = Date()
                results = try Interpreter(precision: fp64 ? .f64 : .f32).run(f, inputs: bound.values)
                note(String(format: "ran %@ with the interpreter in %.3f s", model.origin, Date().timeIntervalSince(start)))
            } else {
                let kind: ExecutorKind = unfused ? .unfused : .compiled
                var g = f
                let passContext = PassContext(threads: threads ?? Executable.defaultThreads, options: try parsePassOptions(passOptions))
                let usesPasses = kind == .compiled && !noPasses
                if usesPasses {
                    let r = try PassPipeline.all.run(f, context: passContext)
                    g = r.function
                    let fusedCount = g.nodes.filter { $0.op == .fused }.count
                    if fusedCount > 0 { note("fuse-residual-blocks: \(fusedCount) block\(fusedCount == 1 ? "" : "s") fused (kiln dump --after fuse-residual-blocks shows why)") }
                }
                let exe = try Executable(g, kind: kind, threads: threads)
                var times: [Double] = [], cpu: [Double] = []
                var out: [HostTensor] = []
                for _ in 0..<(repeatCount == 1 ? 1 : repeatCount + 1) {
                    let start = Date(), cpuStart = threadCPUSeconds()
                    out = try exe.run(bound.values)
                    times.append(Date().timeIntervalSince(start))
                    cpu.append(threadCPUSeconds() - cpuStart)
                }
                results = out
                if let abEnv {
                    let experiment = try ABExperiment(parsing: abEnv)
                    // The pass pipeline runs again inside the experiment's environment, so
                    // experiments in passes (fusion schedules, chunk choices) take effect too.
                    let b = try experiment.compileVariant(kind: kind, threads: threads) {
                        usesPasses ? try PassPipeline.all.run(f, context: passContext).function : f
                    }
                    note(try experiment.compare(exe, b, inputs: bound.values, rounds: repeatCount > 1 ? repeatCount : 20))
                }
                if profile { printProfile(try exe.profileSteps(bound.values, repeats: max(repeatCount, 5))) }
                if repeatCount > 1 { times.removeFirst(); cpu.removeFirst() }
                let median = times.sorted()[times.count / 2]
                // On one thread every kernel runs on this thread, so its CPU time is the run's
                // cost even when other processes share the cores.
                if exe.threads == 1 { note(String(format: "cpu time of this thread: %.3f ms (median)", cpu.sorted()[cpu.count / 2] * 1e3)) }
                note(String(format: "compiled %@ in %.3f s (%d kernels, arena %.2f MB); ran %@ on %d thread%@ in %.3f ms%@",
                            model.origin, exe.compiled.compileSeconds, exe.program.allKernels.count, Double(exe.peakArenaBytes) / 1e6,
                            kind.rawValue, exe.threads, exe.threads == 1 ? "" : "s", median * 1e3, repeatCount > 1 ? " (median of \(repeatCount))" : ""))
            }
            for (i, r) in results.enumerated() {
                print("result \(i): \(summary(r))")
            }
            if let output { try save(results, to: output) }
        }
    }

    func save(_ results: [HostTensor], to path: String) throws {
        if path.hasSuffix(".npy") {
            guard results.count == 1 else {
                throw KilnError("--output \(path): the model has \(results.count) results; use a .safetensors file")
            }
            try NPY.write(results[0], to: path)
        } else if path.hasSuffix(".safetensors") {
            try SafeTensors.write(results.enumerated().map { (name: "result\($0.offset)", tensor: $0.element) }, to: path)
        } else {
            throw KilnError("--output \(path): use a .npy or .safetensors file name")
        }
        note("wrote \(path)")
    }
}

/// One line describing a tensor's values: type, range, mean, norm and a few leading values.
func summary(_ t: HostTensor) -> String {
    let v = t.doubles
    guard !v.isEmpty else { return t.type.description }
    let mn = v.min()!, mx = v.max()!, mean = v.reduce(0, +) / Double(v.count)
    let l2 = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    let nonFinite = v.filter { !$0.isFinite }.count
    let head = v.prefix(4).map { String(format: "%.6g", $0) }.joined(separator: ", ")
    var s = String(format: "%@ min %.6g max %.6g mean %.6g l2 %.6g first [%@]", t.type.description, mn, mx, mean, l2, head)
    if nonFinite > 0 { s += "  (\(nonFinite) non-finite values)" }
    return s
}

/// CPU seconds consumed by the calling thread.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
