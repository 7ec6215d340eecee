import COpenBLAS
import Dispatch

/// DRAM bandwidth measured the STREAM way: copy (`a = b`) and a triad-shaped update
/// (`a = a + s*c`, OpenBLAS saxpy: two arrays read, one written) over arrays far larger
/// than the last-level cache, split in contiguous slices over threads.
///
/// The loops are OpenBLAS scopy and saxpy rather than Swift loops so the figure does not depend on
/// how `kiln` itself was optimized (a debug build's loops would measure the CPU, not DRAM).
/// Bytes are counted as STREAM counts them (copy 2, triad 3 floats per element); the
/// write-allocate read of `a` is not counted, so the figure is what a kernel that reads
/// and writes these bytes can expect, not the bus's raw peak.
public enum StreamBandwidth {
    /// Best-of-`repetitions` rates in GB/s. Best rather than median, as STREAM does: the
    /// roof is what the memory system can deliver, and interference only lowers it.
    public static func measure(threads: Int, bytesPerArray: Int = 128 << 20, repetitions: Int = 5)
        -> (copyGBps: Double, triadGBps: Double)
    {
        let n = bytesPerArray / 4
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        let arrays = Arrays(a: a, b: b, c: c)
        let parts = max(threads, 1)
        // First touch from the same slices the kernels use, so pages are mapped before timing.
        forEachSlice(n, parts) { lo, hi in
            (arrays.a + lo).initialize(repeating: 0, count: hi - lo)
            (arrays.b + lo).initialize(repeating: 1, count: hi - lo)
            (arrays.c + lo).initialize(repeating: 2, count: hi - lo)
        }
        // The threads are ours; OpenBLAS must not split each slice again.
        openblas_set_num_threads(1)
        var bestCopy = Double.infinity, bestTriad = Double.infinity
        for _ in 0..<max(repetitions, 1) {
            var t0 = MedianTimer.monotonicSeconds()
            forEachSlice(n, parts) { lo, hi in
                cblas_scopy(Int32(hi - lo), arrays.b + lo, 1, arrays.a + lo, 1)
            }
            bestCopy = min(bestCopy, MedianTimer.monotonicSeconds() - t0)
            t0 = MedianTimer.monotonicSeconds()
            forEachSlice(n, parts) { lo, hi in
                cblas_saxpy(Int32(hi - lo), 3, arrays.c + lo, 1, arrays.a + lo, 1)
            }
            bestTriad = min(bestTriad, MedianTimer.monotonicSeconds() - t0)
        }
        return (Double(2 * 4 * n) / bestCopy / 1e9, Double(3 * 4 * n) / bestTriad / 1e9)
    }

    /// The three arrays, shared read-only across the worker threads (each writes its own slice).
    private struct Arrays: @unchecked Sendable {
        var a, b, c: UnsafeMutablePointer<Float>
    }

    private static func forEachSlice(_ n: Int, _ parts: Int, _ body: @Sendable (Int, Int) -> Void) {
        if parts == 1 { body(0, n); return }
        DispatchQueue.concurrentPerform(iterations: parts) { t in body(n * t / parts, n * (t + 1) / parts) }
    }
}
