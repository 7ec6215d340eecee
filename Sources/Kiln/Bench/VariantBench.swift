import KilnIR
import KilnRuntime

/// One way of running a function in a benchmark: a variant name and its executable.
public struct VariantRun {
    public var variant: BenchVariant
    public var executable: Executable
    public init(_ variant: BenchVariant, _ executable: Executable) {
        self.variant = variant
        self.executable = executable
    }
}

/// What identifies a configuration in its records (everything but the variant and the timings).
public struct BenchConfiguration: Sendable {
    public var name: String
    public var direction: BenchDirection
    public var batch: Int
    public var seqLen: Int?
    public var chunk: Int?
    public init(name: String, direction: BenchDirection, batch: Int, seqLen: Int? = nil, chunk: Int? = nil) {
        self.name = name
        self.direction = direction
        self.batch = batch
        self.seqLen = seqLen
        self.chunk = chunk
    }

    public var label: String {
        var l = "\(name) \(direction.rawValue) batch \(batch)"
        if let seqLen { l += " T=\(seqLen)" }
        if let chunk { l += " chunk \(chunk)" }
        return l
    }
}

/// The measurement every suite shares: variants of one function checked against a
/// reference variant, timed interleaved, one record each.
public enum VariantBench {
    /// - Parameters:
    ///   - runs: the variants; `runs[reference]` is the one the others must agree with and
    ///     whose median their `ratio` divides (ratio = reference median / variant median).
    ///   - inputs: every argument of the executables' function, by name.
    ///   - flops: the work of one run credited to every variant (the same number for all,
    ///     so GFLOP/s compare like times do).
    ///   - roofline: the bound of that work on `machine`.
    ///   - resultNames: names for the results in an agreement failure (default: the IR's).
    ///   - probe: an sgemm timed between the variants' runs; its median rate replaces
    ///     `machine`'s sgemm rate in the records and in the roofline's compute roof.
    public static func measure(_ runs: [VariantRun], reference: Int, inputs: [String: HostTensor],
                               configuration c: BenchConfiguration, flops: Double, roofline: RooflineBound,
                               tolerance: Double, config: BenchConfig, machine: MeasuredMachine,
                               resultNames: [String]? = nil, probe: SgemmProbe? = nil) throws -> [BenchRecord] {
        let what = "\(c.label) threads \(config.threads)"
        let ref = runs[reference]
        let expected = try ref.executable.run(inputs)
        let resultNames = resultNames ?? ref.executable.function.results.map { ref.executable.function.name(of: $0) }
        for (i, r) in runs.enumerated() where i != reference {
            try OutputAgreement.check(try r.executable.run(inputs), against: expected, tolerance: tolerance,
                                      what: "\(what): \(r.variant) vs \(ref.variant)", names: resultNames)
        }
        config.progress("\(what): timing \(runs.map(\.variant.rawValue).joined(separator: ", "))")
        // The agreement check above was each executable's first run, so one warm-up fewer.
        var timer = config.timer
        timer.warmupRuns = max(timer.warmupRuns - 1, 0)
        let (samples, probed) = try timer.measureInterleaved(runs.map { r in { _ = try r.executable.run(inputs) } },
                                                             probe: probe.map { p in { p.run() } })
        var machine = machine, roofline = roofline
        if let probe, let probed {
            machine.sgemmGflops = probe.gflops(seconds: probed.median)
            machine.sgemmSize = probe.size
            roofline = RooflineBound(flops: roofline.flops, bytes: roofline.bytes, machine: machine)
        }
        let refMedian = samples[reference].median
        return zip(runs.indices, zip(runs, samples)).map { i, pair in
            let (r, s) = pair
            return BenchRecord(name: c.name, direction: c.direction, batch: c.batch, threads: config.threads, variant: r.variant,
                               medianMs: s.median * 1e3, gflops: flops / s.median / 1e9, sgemmGflops: machine.sgemmGflops,
                               rooflineMs: roofline.seconds * 1e3, bandwidthGbps: machine.bandwidthGBps,
                               kernels: r.executable.program.kernelLaunches, seqLen: c.seqLen, chunk: c.chunk,
                               peakBytes: r.executable.peakArenaBytes, ratio: i == reference ? nil : refMedian / s.median,
                               minMs: s.min * 1e3, runs: s.runs, fmaPeakGflops: machine.fmaPeakGflops)
        }
    }
}
