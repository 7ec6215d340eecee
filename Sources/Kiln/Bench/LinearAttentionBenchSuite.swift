/// `kiln bench gla | deltanet | retnet | linear`: `LinearAttentionBench` as a `BenchSuite`, in
/// the block benchmark's record format (variant recurrent | chunkwise, plus seq_len and chunk).
/// Not run by default: the 64k-token configurations take minutes. Batch is fixed at 1 (the
/// issue's configuration); `--quick` stops at T = 4096 and skips the chunk-size sweep;
/// `--seq-lens`, `--chunks` and `--no-recurrent` override the lengths, the sweep and the recurrent form.
/// Configurations that cannot run (the recurrent backward past 2 GB of stored states, the
/// quadratic form) are reported through `config.progress` and left out of the records.
public struct LinearAttentionBenchSuite: BenchSuite {
    public init() {}
    public var suiteName: String { "linear-attention" }
    public var names: [String] { LinearAttentionBench.models.map(\.name) }
    public func runsByDefault(_ name: String) -> Bool { false }

    public func records(for name: String, config: BenchConfig, machine: MeasuredMachine) throws -> [BenchRecord] {
        var bench = LinearAttentionBench(threads: config.threads)
        bench.names = [name]
        bench.seqLens = config.seqLens ?? (config.quick ? [1024, 4096] : [1024, 4096, 16384, 65536])
        bench.directions = config.directions.map(\.rawValue)
        bench.machine = machine.model
        bench.remeasureSgemm = false
        if config.quick { bench.sweep = []; bench.lengthRatioRounds = 3 }
        if let chunks = config.chunks { bench.sweep = chunks }
        bench.includeRecurrent = config.includeRecurrent
        bench.includeParallel = config.includeParallel
        let records = try bench.run(sgemmGflops: machine.sgemmGflops) { r in
            if let why = r.skipped { config.progress("\(r.name) \(r.direction) T=\(r.seq_len) \(r.variant): skipped, \(why)") }
        }
        return records.filter { $0.skipped == nil }.map { r in
            BenchRecord(name: r.name, direction: BenchDirection(rawValue: r.direction) ?? .forward, batch: r.batch, threads: r.threads,
                        variant: BenchVariant(r.variant), medianMs: r.median_ms, gflops: r.gflops, sgemmGflops: r.sgemm_gflops,
                        rooflineMs: r.roofline_ms, bandwidthGbps: machine.bandwidthGBps, seqLen: r.seq_len, chunk: r.chunk,
                        peakBytes: r.peak_bytes, lengthRatio: r.length_ratio)
        }
    }
}
