import Dispatch
import KilnCodegen

/// The machine's FMA peak at a thread count: `FmaPeakKernel` (independent FMA chains on
/// registers, no memory traffic) running on that many threads at once.
///
/// Reported beside the sgemm roof, not instead of it: no real kernel reaches this rate, but
/// the distance between the two says how much a GEMM-bound block could still gain. On the
/// Zen 3 development VM OpenBLAS's 2048³ sgemm measured 91-93% of it; the project's notes put
/// an Ice Lake core at about 73% (110 of 150 GFLOP/s).
public enum FmaPeak {
    /// GFLOP/s at `threads` threads: the best of `trials` medians, as for the sgemm roof
    /// (one preempted run does not count, and other processes can only lower the figure).
    /// Each run is sized to take about `seconds` per thread. Nil when the kernel cannot be
    /// compiled for this host.
    public static func measure(threads: Int, timer: MedianTimer, trials: Int = 3, seconds: Double = 0.02) -> Double? {
        guard let kernel = try? FmaPeakKernel() else { return nil }
        let parts = max(threads, 1)
        // Calibrate on one thread: iterations for `seconds` at the rate of a short run.
        var iterations = 1 << 16
        let t0 = MedianTimer.monotonicSeconds()
        _ = kernel.run(iterations: iterations)
        let probe = MedianTimer.monotonicSeconds() - t0
        if probe > 0 { iterations = max(Int(Double(iterations) * seconds / probe), 1 << 12) }
        let n = iterations
        var best = Double.infinity
        for _ in 0..<max(trials, 1) {
            best = min(best, timer.measure {
                // A call through the JIT's function pointer cannot be optimized away.
                if parts == 1 { _ = kernel.run(iterations: n); return }
                DispatchQueue.concurrentPerform(iterations: parts) { _ in _ = kernel.run(iterations: n) }
            }.median)
        }
        return best > 0 ? Double(parts) * Double(n) * kernel.flopsPerIteration / best / 1e9 : nil
    }
}
