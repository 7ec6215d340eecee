import COpenBLAS

/// OpenBLAS's row-major n×n×n sgemm at a fixed thread count, ready to run again and again:
/// the compute roof measured *between* a benchmark's own runs (`MedianTimer.measureInterleaved`'s
/// probe), so the roof and the timings see the same load on a shared machine.
public final class SgemmProbe {
    public let size: Int
    public let threads: Int
    private let a: [Float], b: [Float]
    private var c: [Float]

    public init(size n: Int, threads: Int) {
        size = n
        self.threads = max(threads, 1)
        var rng = SeededRandom(seed: 1, name: "sgemm")
        a = rng.uniformFloats(n * n, -1, 1)
        b = rng.uniformFloats(n * n, -1, 1)
        c = [Float](repeating: 0, count: n * n)
    }

    /// Floating-point operations of one `run`.
    public var flops: Double { 2 * Double(size) * Double(size) * Double(size) }

    /// One sgemm (it sets OpenBLAS's thread count first: the unfused executor may change it).
    public func run() {
        let n = Int32(size)
        openblas_set_num_threads(Int32(threads))
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, ap.baseAddress, n, bp.baseAddress, n,
                                0, cp.baseAddress, n)
                }
            }
        }
    }

    /// GFLOP/s of a median run time in seconds.
    public func gflops(seconds: Double) -> Double { seconds > 0 ? flops / seconds / 1e9 : 0 }
}
