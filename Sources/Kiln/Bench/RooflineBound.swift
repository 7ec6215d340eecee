import KilnIR
import KilnPasses

/// The roofline lower bound of one run of a function:
/// `max(flops / sgemm rate, compulsory bytes / DRAM bandwidth)`.
///
/// - Compute roof: the in-run OpenBLAS sgemm rate at the run's thread count
///   (`MeasuredMachine`), not the vendor peak.
/// - Memory roof: compulsory bytes only, i.e. every argument (inputs and parameters) read
///   once and every result written once, over the in-run STREAM triad bandwidth.
///   Intermediates are not counted: a perfectly fused block never sends them to DRAM,
///   so the bound is what fusion could reach, and an unfused run's distance from it is
///   the gap fusion is meant to close.
public struct RooflineBound: Sendable, Hashable {
    public var flops: Double
    public var bytes: Double
    public var computeSeconds: Double
    public var memorySeconds: Double

    public init(flops: Double, bytes: Double, machine: MeasuredMachine) {
        self.flops = flops
        self.bytes = bytes
        // Through the machine model so the bench and the cost model share one formula.
        let m = machine.model
        computeSeconds = m.roofline(flops: flops, bytes: 0, threads: machine.threads)
        memorySeconds = m.roofline(flops: 0, bytes: bytes, threads: machine.threads)
    }

    /// The bound of `function`: its op-table FLOPs and its compulsory bytes.
    public init(function: Function, machine: MeasuredMachine) {
        self.init(flops: function.flops, bytes: Double(RooflineBound.compulsoryBytes(of: function)), machine: machine)
    }

    public var seconds: Double { max(computeSeconds, memorySeconds) }

    /// Which roof binds: "compute" or "memory".
    public var limitedBy: String { computeSeconds >= memorySeconds ? "compute" : "memory" }

    /// Bytes of every argument plus every result.
    public static func compulsoryBytes(of f: Function) -> Int {
        f.arguments.reduce(0) { $0 + f.type(of: $1).byteCount } + f.results.reduce(0) { $0 + f.type(of: $1).byteCount }
    }
}
