import Foundation
import KilnPasses

/// The machine's two roofs at one thread count, measured in the same run as the benchmarks
/// they bound: OpenBLAS's sgemm rate (compute) and STREAM bandwidth (memory); and, above
/// the compute roof, the FMA peak (`FmaPeak`).
///
/// The compute roof is the *measured* sgemm rate, not the vendor peak: it is what a
/// well-tuned dense kernel actually reaches on this machine with this load, which is the
/// fair target for fused blocks whose work is mostly GEMMs.
public struct MeasuredMachine: Codable, Hashable, Sendable {
    public var threads: Int
    /// OpenBLAS `cblas_sgemm` on `sgemmSize`³, GFLOP/s (best of three medians, `measureSgemm`), `openblas_set_num_threads(threads)`.
    public var sgemmGflops: Double
    public var sgemmSize: Int
    /// STREAM triad, best-of GB/s over three arrays of `streamBytesPerArray` bytes each.
    public var bandwidthGBps: Double
    /// STREAM copy, best-of GB/s (reported, not used by the roofline).
    public var copyGBps: Double
    public var streamBytesPerArray: Int
    /// Independent register FMAs on every thread at once, GFLOP/s (`FmaPeak`); nil if not measured.
    public var fmaPeakGflops: Double?

    public init(threads: Int, sgemmGflops: Double, sgemmSize: Int, bandwidthGBps: Double, copyGBps: Double,
                streamBytesPerArray: Int, fmaPeakGflops: Double? = nil) {
        self.threads = threads
        self.sgemmGflops = sgemmGflops
        self.sgemmSize = sgemmSize
        self.bandwidthGBps = bandwidthGBps
        self.copyGBps = copyGBps
        self.streamBytesPerArray = streamBytesPerArray
        self.fmaPeakGflops = fmaPeakGflops
    }

    /// Measures both roofs and the FMA peak with `threads` threads. `quick` uses a 1024³ sgemm
    /// and two STREAM passes (about a second); otherwise 2048³ and five passes. STREAM arrays
    /// are 128 MiB each either way (384 MiB for triad), far beyond any last-level cache.
    public static func measure(threads: Int, quick: Bool = false) -> MeasuredMachine {
        let n = quick ? 1024 : 2048
        let gemm = measureSgemm(size: n, threads: threads, timer: quick ? .quick : MedianTimer(minSeconds: 0.5, minRuns: 5))
        let bytes = 128 << 20
        let (copy, triad) = StreamBandwidth.measure(threads: threads, bytesPerArray: bytes, repetitions: quick ? 2 : 5)
        let peak = FmaPeak.measure(threads: threads, timer: quick ? .quick : MedianTimer(minSeconds: 0.2, minRuns: 5))
        return MeasuredMachine(threads: threads, sgemmGflops: gemm, sgemmSize: n, bandwidthGBps: triad, copyGBps: copy,
                               streamBytesPerArray: bytes, fmaPeakGflops: peak)
    }

    /// GFLOP/s of OpenBLAS's row-major n×n×n sgemm at `threads` threads: the median of each
    /// of `trials` timing rounds, and the best of those medians. The median keeps one
    /// preempted run from counting; the best round keeps a burst of load from other
    /// processes (the machine is shared) from lowering the roof below what the
    /// benchmarks then reach.
    public static func measureSgemm(size n: Int, threads: Int, timer: MedianTimer, trials: Int = 3) -> Double {
        let probe = SgemmProbe(size: n, threads: threads)
        var best = Double.infinity
        for _ in 0..<max(trials, 1) {
            best = min(best, timer.measure { probe.run() }.median)
        }
        return probe.gflops(seconds: best)
    }

    /// The measurements as the cost model's per-core machine: peak and GEMM rate are the
    /// sgemm rate per thread, DRAM bandwidth the triad rate per thread, so
    /// `model.roofline(..., threads: threads)` gives this run's roofs. Vector rate and
    /// cache figures are not measured here and come from `MachineModel.default`.
    public var model: MachineModel {
        var m = MachineModel.default
        let t = Double(max(threads, 1))
        m.peakGflopsPerCore = sgemmGflops / t
        m.gemmGflopsPerCore = sgemmGflops / t
        m.dramGBps = bandwidthGBps / t
        return m
    }

    /// One line for the table header: `threads 2: OpenBLAS sgemm 251.3 GFLOP/s (2048^3), FMA peak
    /// 290.0 GFLOP/s (sgemm at 86.7%), DRAM 18.2 GB/s triad (copy 17.9), balance 13.8 FLOP/B`.
    public var summary: String {
        let peak = fmaPeakGflops.map { String(format: " FMA peak %.1f GFLOP/s (sgemm at %.1f%%),", $0, 100 * sgemmGflops / max($0, 1e-9)) } ?? ""
        return String(format: "threads %d: OpenBLAS sgemm %.1f GFLOP/s (%d^3),", threads, sgemmGflops, sgemmSize) + peak
            + String(format: " DRAM %.1f GB/s triad (copy %.1f), balance %.1f FLOP/B", bandwidthGBps, copyGBps,
                     sgemmGflops / max(bandwidthGBps, 1e-9))
    }
}
