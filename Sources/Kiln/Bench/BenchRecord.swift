import Foundation

/// Which part of a model a benchmark runs.
public enum BenchDirection: String, Codable, Sendable, CaseIterable {
    /// The model's own function.
    case forward
    /// The loss (`LossFunction.wrap`) and its gradients with respect to every parameter, in one function.
    case forwardBackward = "forward+backward"
}

/// How a benchmarked function was executed. A string-backed struct rather than an enum so a
/// suite can add its own variants (linear attention's forms) without touching this file.
public struct BenchVariant: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    public var description: String { rawValue }

    /// The pass pipeline, then Kiln's compiled executor.
    public static let fused = BenchVariant("fused")
    /// One kernel per op, every intermediate materialized, GEMMs through OpenBLAS.
    public static let unfused = BenchVariant("unfused")
    /// Linear attention forms (`schedule-linear-attention`).
    public static let recurrent = BenchVariant("recurrent")
    public static let chunkwise = BenchVariant("chunkwise")
    public static let parallel = BenchVariant("parallel")
}

/// One measurement of `kiln bench`: a function, a configuration, a variant, and the
/// machine's roofs measured in the same run. The JSON keys are the stable file format
/// (`--json`, the checked-in baseline), so they are spelled out in `CodingKeys`.
public struct BenchRecord: Codable, Hashable, Sendable {
    /// Block or model name, e.g. `convnext-block`.
    public var name: String
    public var direction: BenchDirection
    public var batch: Int
    public var threads: Int
    public var variant: BenchVariant
    /// Median wall time of one run, milliseconds.
    public var medianMs: Double
    /// Achieved rate: the *unfused* function's op-table FLOPs (`Function.flops`) over the
    /// median, so every variant of a configuration is divided by the same work.
    public var gflops: Double
    /// OpenBLAS sgemm rate measured in this run at `threads` threads (the compute roof);
    /// for blocks, the median of a 1024³ sgemm timed between this configuration's runs
    /// (`SgemmProbe`, `MedianTimer.measureInterleaved(_:probe:)`).
    public var sgemmGflops: Double
    /// Roofline lower bound, milliseconds (see `RooflineBound`).
    public var rooflineMs: Double
    /// DRAM bandwidth measured in this run at `threads` threads (the memory roof), GB/s.
    public var bandwidthGbps: Double?
    /// Kernel launches of one run: JIT kernels plus GEMM calls (see `Executable.kernelLaunches`).
    public var kernels: Int?
    /// Sequence length, for sequence models.
    public var seqLen: Int?
    /// Chunk size of a chunkwise linear-attention schedule.
    public var chunk: Int?
    /// Bytes of the executable's arena (every intermediate buffer under the memory plan).
    public var peakBytes: Int?
    /// Speedup of this variant over the baseline variant of the same configuration
    /// (for blocks: unfused median / fused median; > 1 means fused is faster).
    public var ratio: Double?
    /// Fastest run, milliseconds.
    public var minMs: Double?
    /// Timed runs behind the median (warm-up excluded).
    public var runs: Int?
    /// Linear attention: time over the same configuration at the run's shortest sequence
    /// length, the median of paired alternating rounds (`PairedLengthRatio`).
    public var lengthRatio: Double?
    /// The machine's FMA peak at `threads` threads, measured in this run (`FmaPeak`), GFLOP/s.
    public var fmaPeakGflops: Double?

    enum CodingKeys: String, CodingKey {
        case name, direction, batch, threads, variant
        case medianMs = "median_ms", gflops, sgemmGflops = "sgemm_gflops", rooflineMs = "roofline_ms"
        case bandwidthGbps = "bandwidth_gbps", kernels, seqLen = "seq_len", chunk, peakBytes = "peak_bytes"
        case ratio, minMs = "min_ms", runs, lengthRatio = "length_ratio", fmaPeakGflops = "fma_peak_gflops"
    }

    public init(name: String, direction: BenchDirection, batch: Int, threads: Int, variant: BenchVariant,
                medianMs: Double, gflops: Double, sgemmGflops: Double, rooflineMs: Double,
                bandwidthGbps: Double? = nil, kernels: Int? = nil, seqLen: Int? = nil, chunk: Int? = nil,
                peakBytes: Int? = nil, ratio: Double? = nil, minMs: Double? = nil, runs: Int? = nil, lengthRatio: Double? = nil,
                fmaPeakGflops: Double? = nil) {
        self.name = name
        self.direction = direction
        self.batch = batch
        self.threads = threads
        self.variant = variant
        self.medianMs = medianMs
        self.gflops = gflops
        self.sgemmGflops = sgemmGflops
        self.rooflineMs = rooflineMs
        self.bandwidthGbps = bandwidthGbps
        self.kernels = kernels
        self.seqLen = seqLen
        self.chunk = chunk
        self.peakBytes = peakBytes
        self.ratio = ratio
        self.minMs = minMs
        self.runs = runs
        self.lengthRatio = lengthRatio
        self.fmaPeakGflops = fmaPeakGflops
    }

    /// Identifies the configuration regardless of variant: records with equal keys are
    /// bars of one group in the plot and rows of one line in the table.
    public var configKey: String {
        var k = "\(name) \(direction.rawValue) b\(batch) t\(threads)"
        if let seqLen { k += " T\(seqLen)" }
        if let chunk { k += " C\(chunk)" }
        return k
    }

    /// Identifies the measurement: configuration plus variant (what `--compare` matches on).
    public var key: String { configKey + " " + variant.rawValue }

    /// Work of one run implied by the record, FLOPs (gflops × median).
    public var flops: Double { gflops * 1e9 * medianMs / 1e3 }

    /// The rate the roofline allows for this work, GFLOP/s.
    public var attainableGflops: Double { rooflineMs > 0 ? gflops * medianMs / rooflineMs : 0 }

    /// Achieved fraction of the in-run sgemm rate.
    public var fractionOfSgemm: Double { sgemmGflops > 0 ? gflops / sgemmGflops : 0 }

    /// Achieved fraction of the in-run FMA peak, when it was measured.
    public var fractionOfPeak: Double? { fmaPeakGflops.flatMap { $0 > 0 ? gflops / $0 : nil } }
}

extension BenchRecord {
    /// The `--json` file format: a pretty-printed array of records with sorted keys.
    public static func encode(_ records: [BenchRecord]) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(records)
    }

    /// Reads a `--json` file (or a checked-in baseline).
    public static func decode(_ data: Data) throws -> [BenchRecord] {
        try JSONDecoder().decode([BenchRecord].self, from: data)
    }

    public static func read(from path: String) throws -> [BenchRecord] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KilnError("\(path): cannot read the benchmark file (does it exist?)")
        }
        do { return try decode(data) } catch { throw KilnError("\(path): not a kiln bench JSON file: \(error)") }
    }

    public static func write(_ records: [BenchRecord], to path: String) throws {
        try encode(records).write(to: URL(fileURLWithPath: path))
    }
}
