import Foundation

/// One measured configuration, with the field names of the block benchmark's JSON records
/// plus `seq_len` and `chunk`.
public struct LinearAttentionBenchRecord: Codable, Sendable {
    public var name: String
    public var direction: String
    public var batch: Int
    public var threads: Int
    public var variant: String
    public var median_ms: Double
    public var gflops: Double
    public var sgemm_gflops: Double
    public var roofline_ms: Double
    public var seq_len: Int
    public var chunk: Int
    public var peak_bytes: Int
    /// Why a configuration was not run (then the timings are 0).
    public var skipped: String?
    /// For chunkwise records above the run's shortest length: time(seq_len) / time(shortest),
    /// the median of paired alternating rounds (`PairedLengthRatio`), not of the two medians.
    public var length_ratio: Double?
}

/// `kiln bench` for linear attention (issue #6): gla, deltanet, retnet and linear at B=1, H=4,
/// Dk=Dv=128 over sequence lengths, each in the recurrent form and the chunkwise form (the
/// chunk size schedule-linear-attention chooses and a sweep), forward and forward+backward.
/// GFLOP/s always count the chunkwise forward FLOPs of reference/chunkwise.md §3 with F = 1/2
/// at the chosen C (three times that for forward+backward), so rates are comparable across
/// variants. The quadratic parallel form (variant `parallel`: one chunk of C = T, the T x T
/// decayed causal scores) runs forward where its scratch fits `parallelMemoryCap`; its
/// forward+backward record runs the parallel forward with the chunkwise backward.
public struct LinearAttentionBench {
    public static let models: [(name: String, gate: LinearAttentionGate)] = [("gla", .key), ("deltanet", .delta), ("retnet", .scalar), ("linear", .none)]

    public var names: [String] = models.map(\.name)
    public var seqLens = [1024, 4096, 16384, 65536]
    public var batch = 1, heads = 4, dk = 128, dv = 128
    public var threads: Int
    public var sweep = [32, 64, 128]
    public var directions = ["forward", "forward+backward"]
    public var includeRecurrent = true
    public var machine = MachineModel.default
    /// Re-measure Kiln's sgemm before every group (the standalone command); the `kiln bench`
    /// suite passes the run's measured machine instead.
    public var remeasureSgemm = true
    /// Minimum total time spent timing one configuration, seconds.
    public var minTime = 0.5
    /// Rounds of the paired time(T) / time(shortest T) measurement of chunkwise records; 0 skips it.
    public var lengthRatioRounds = 7

    public init(threads: Int) { self.threads = threads }

    /// Largest scratch the parallel form may take (its T x T scores per (batch, head)), bytes.
    public var parallelMemoryCap = 1_073_741_824.0
    public var includeParallel = true

    /// Why the parallel form is not run at this T, or nil.
    func parallelSkipReason(_ gate: LinearAttentionGate, _ t: Int) -> String? {
        let model = LinearAttentionCostModel(machine: machine, threads: threads)
        let bytes = model.parallelScratchBytes(problem(gate, t))
        guard bytes > parallelMemoryCap else { return nil }
        return "the parallel form's T x T scores need \(Int(bytes / 1_048_576)) MiB > cap \(Int(parallelMemoryCap / 1_048_576)) MiB"
    }

    func problem(_ gate: LinearAttentionGate, _ t: Int, backward: Bool = false) -> LinearAttentionProblem {
        LinearAttentionProblem(gate: gate, batch: batch, seqLen: t, heads: heads, dk: dk, dv: dv, backward: backward)
    }

    /// The op (and its backward for forward+backward) as a Graph IR function over inputs q, k, v, g?, do?, dS?.
    func function(_ gate: LinearAttentionGate, _ t: Int, chunk: Int, backward: Bool, parallel: Bool = false) throws -> Function {
        let b = FunctionBuilder(name: "la_bench")
        let qk = TensorType.f32(batch, t, heads, dk), vt = TensorType.f32(batch, t, heads, dv)
        var ins = [try b.addInput("q", qk), try b.addInput("k", qk), try b.addInput("v", vt)]
        if gate == .key { ins.append(try b.addInput("g", qk)) } else if gate != .none { ins.append(try b.addInput("g", .f32(batch, t, heads))) }
        let attrs: Attributes = ["gate": .symbol(gate.rawValue), "scale": .float(1 / Double(dk).squareRoot()), "chunk": .int(chunk)]
        var fattrs = attrs
        if parallel { fattrs["parallel"] = .bool(true) }
        let o = try b.add(.linear_attention, ins, attributes: fattrs)
        guard backward else { return b.finish(results: o) }
        let dout = try b.addInput("do", vt), dstate = try b.addInput("dS", .f32(batch, heads, dk, dv))
        var battrs = attrs
        battrs["has_h0"] = .bool(false)
        let grads = try b.add(.linear_attention_backward, ins + [dout, dstate], attributes: battrs)
        return b.finish(results: o + grads)
    }

    /// Inputs as the layers produce them: keys L2-normalized for DeltaNet, beta = sigmoid,
    /// GLA gates logsigmoid(x)/16, RetNet's fixed per-head decay log(1 − 2^(−5−h)).
    func inputs(_ f: Function, _ gate: LinearAttentionGate, _ t: Int) -> [String: HostTensor] {
        var rng = SeededRandom(seed: 42)
        var out: [String: HostTensor] = [:]
        for a in f.arguments {
            let type = f.type(of: a), name = f.name(of: a)
            var x = (0..<type.elementCount).map { _ in Float(rng.uniform(-1, 1)) }
            switch (name, gate) {
            case ("g", .key): x = x.map { -Float(log1p(exp(-Double($0) * 4))) / 16 }
            case ("g", .scalar): x = (0..<x.count).map { i in Float(log(1 - pow(2, -5 - Double(i % heads)))) }
            case ("g", .delta): x = x.map { 1 / (1 + exp(-$0)) }
            case ("k", .delta):
                for r in stride(from: 0, to: x.count, by: dk) {
                    let n = (r..<r + dk).map { x[$0] * x[$0] }.reduce(0, +).squareRoot()
                    for j in r..<r + dk { x[j] /= n }
                }
            case ("dS", _): x = [Float](repeating: 0, count: x.count)
            default: break
            }
            out[name] = HostTensor(shape: type.shape, floats: x)
        }
        return out
    }

    /// Kiln's compiled GEMM on this machine and thread count, GFLOP/s (2048 x 1024 x 1024).
    public static func measureSgemm(threads: Int) throws -> Double {
        let b = FunctionBuilder(name: "sgemm")
        let x = try b.addInput("a", .f32(2048, 1024)), w = try b.addInput("b", .f32(1024, 1024))
        let f = b.finish(results: try b.add(.matmul, [x, w]))
        var rng = SeededRandom(seed: 1)
        let ins = ["a": HostTensor(shape: [2048, 1024], floats: (0..<(2048 * 1024)).map { _ in Float(rng.uniform(-1, 1)) }),
                   "b": HostTensor(shape: [1024, 1024], floats: (0..<(1024 * 1024)).map { _ in Float(rng.uniform(-1, 1)) })]
        let times = try Executable(f, threads: threads).timeSteps(ins, repeats: 7)
        return 2 * 2048 * 1024 * 1024 / median(times) / 1e9
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Runs every configuration; `progress` sees each record as it is measured.
    /// The sgemm rate is re-measured before every (name, T, direction) group, because the
    /// machine may be shared and its load changes during a long run; each record carries the
    /// rate measured next to it.
    public func run(sgemmGflops initialSgemm: Double, progress: (LinearAttentionBenchRecord) -> Void = { _ in }) throws -> [LinearAttentionBenchRecord] {
        var records: [LinearAttentionBenchRecord] = []
        let model = LinearAttentionCostModel(machine: machine, threads: threads)
        var sgemmGflops = initialSgemm
        let shortest = seqLens.min() ?? 0
        for (name, gate) in Self.models where names.contains(name) {
            // The shortest length's chunkwise executables, kept for the paired length ratios.
            var shortSides: [String: PairedLengthRatio.Side] = [:]
            for t in seqLens {
                for direction in directions {
                    if remeasureSgemm && !records.isEmpty { sgemmGflops = try Self.measureSgemm(threads: threads) }
                    let backward = direction != "forward"
                    let chosen = max(model.best(problem(gate, t)).chunk, 0)
                    var variants: [(String, Int)] = includeRecurrent ? [("recurrent", 0)] : []
                    let chunkwise = ([chosen > 0 ? chosen : 64] + sweep).reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
                    variants += chunkwise.map { ("chunkwise", $0) }
                    let nominalChunk = chosen > 0 ? chosen : 64
                    let flops = LinearAttentionCostModel.chunkwiseFlops(problem(gate, t), chunk: nominalChunk) * (backward ? 3 : 1)
                    var reference: [HostTensor]?
                    for (variant, c) in variants {
                        var r = LinearAttentionBenchRecord(name: name, direction: direction, batch: batch, threads: threads, variant: variant,
                                                           median_ms: 0, gflops: 0, sgemm_gflops: sgemmGflops, roofline_ms: 0,
                                                           seq_len: t, chunk: c, peak_bytes: 0, skipped: nil)
                        if let why = skipReason(gate, t, chunk: c, backward: backward) {
                            r.skipped = why
                        } else {
                            let (outputs, side) = try measure(&r, gate, t, chunk: c, backward: backward, flops: flops)
                            if let reference { try Self.checkAgreement(outputs, reference, r) } else { reference = outputs }
                            let pairKey = "\(direction) C\(c)"
                            if variant == "chunkwise" && lengthRatioRounds > 0 {
                                if t == shortest { shortSides[pairKey] = side } else if let short = shortSides[pairKey] {
                                    r.length_ratio = try PairedLengthRatio(rounds: lengthRatioRounds).measure(long: side, short: short).median
                                }
                            }
                        }
                        progress(r)
                        records.append(r)
                    }
                    guard includeParallel else { continue }
                    // The parallel forward; forward+backward adds the chunkwise backward at the chosen C.
                    var p = LinearAttentionBenchRecord(name: name, direction: direction, batch: batch, threads: threads, variant: "parallel",
                                                       median_ms: 0, gflops: 0, sgemm_gflops: sgemmGflops, roofline_ms: 0,
                                                       seq_len: t, chunk: 0, peak_bytes: 0, skipped: parallelSkipReason(gate, t))
                    if p.skipped == nil {
                        let (outputs, _) = try measure(&p, gate, t, chunk: backward ? nominalChunk : 0, backward: backward, flops: flops, parallel: true)
                        p.chunk = 0
                        if let reference { try Self.checkAgreement(outputs, reference, p) }
                    }
                    progress(p)
                    records.append(p)
                }
            }
        }
        return records
    }

    /// Configurations that cannot run here, with the reason.
    func skipReason(_ gate: LinearAttentionGate, _ t: Int, chunk: Int, backward: Bool) -> String? {
        guard backward && chunk == 0 else { return nil }
        let states = Double(batch * heads) * Double(t + 1) * Double(dk * dv) * 4
        return states > 2e9 ? "the recurrent backward keeps all \(t + 1) states (\(Int(states / 1e9)) GB)" : nil
    }

    /// Variants of one configuration compute the same function: relative RMS difference of every
    /// output ≤ 1e-2 (fp32 schedules of different association order), else an error.
    static func checkAgreement(_ a: [HostTensor], _ b: [HostTensor], _ r: LinearAttentionBenchRecord) throws {
        for (i, (x, y)) in zip(a, b).enumerated() {
            var num = 0.0, den = 0.0
            for (p, q) in zip(x.floats, y.floats) { num += Double(p - q) * Double(p - q); den += Double(q) * Double(q) }
            let err = (num / max(den, 1e-30)).squareRoot()
            guard err <= 1e-2, err.isFinite else {
                throw KilnError("\(r.name) \(r.direction) T=\(r.seq_len) \(r.variant) C=\(r.chunk): output \(i) differs from the first variant by relative RMS \(err)")
            }
        }
    }

    /// Times one configuration into `r`; returns its outputs and its executable with inputs.
    func measure(_ r: inout LinearAttentionBenchRecord, _ gate: LinearAttentionGate, _ t: Int, chunk: Int, backward: Bool, flops: Double,
                 parallel: Bool = false) throws -> ([HostTensor], PairedLengthRatio.Side) {
        var f = try function(gate, t, chunk: chunk, backward: backward, parallel: parallel)
        // As the pipeline compiles a training step: the backward reads the forward's saved states.
        if backward { f = try ShareLinearAttentionStates().run(f, context: PassContext(threads: threads)).function }
        let exe = try Executable(f, threads: threads)
        let ins = inputs(f, gate, t)
        let outputs = try exe.run(ins)
        let first = try exe.timeSteps(ins, repeats: 1)[0]
        let repeats = max(3, min(21, Int(minTime / max(first, 1e-6))))
        let times = try exe.timeSteps(ins, repeats: repeats)
        let seconds = Self.median(times)
        let ioBytes = f.arguments.map { f.type(of: $0).elementCount }.reduce(0, +) * 4
            + f.results.map { f.type(of: $0).elementCount }.reduce(0, +) * 4
        r.median_ms = seconds * 1e3
        r.gflops = flops / seconds / 1e9
        r.roofline_ms = machine.roofline(flops: flops, bytes: Double(ioBytes), threads: threads) * 1e3
        r.peak_bytes = exe.peakArenaBytes
        return (outputs, PairedLengthRatio.Side(executable: exe, inputs: ins, seqLen: t))
    }
}
