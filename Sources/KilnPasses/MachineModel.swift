/// The machine as cost models see it: compute and memory rates and cache sizes.
///
/// The defaults are conservative figures for one AVX-512 core; `kiln bench` measures the
/// sgemm rate and bandwidth in the same run and passes a measured model, so decisions
/// and roofline bounds follow the machine the program actually runs on.
public struct MachineModel: Sendable, Hashable {
    /// Peak fp32 FMA rate of one core, GFLOP/s.
    public var peakGflopsPerCore: Double
    /// Rate of Kiln's GEMM micro-kernel on L1/L2-resident tiles, one core, GFLOP/s.
    public var gemmGflopsPerCore: Double
    /// Rate of simple vectorized elementwise work (a load, a few FMAs, a store), GFLOP/s per core.
    public var vectorGflopsPerCore: Double
    /// Main-memory bandwidth per core, GB/s.
    public var dramGBps: Double
    /// L2 bandwidth per core, GB/s.
    public var l2GBps: Double
    public var l1Bytes: Int
    public var l2Bytes: Int

    public init(peakGflopsPerCore: Double, gemmGflopsPerCore: Double, vectorGflopsPerCore: Double,
                dramGBps: Double, l2GBps: Double, l1Bytes: Int, l2Bytes: Int) {
        self.peakGflopsPerCore = peakGflopsPerCore
        self.gemmGflopsPerCore = gemmGflopsPerCore
        self.vectorGflopsPerCore = vectorGflopsPerCore
        self.dramGBps = dramGBps
        self.l2GBps = l2GBps
        self.l1Bytes = l1Bytes
        self.l2Bytes = l2Bytes
    }

    /// Figures measured on the development machine (2 cores, AVX-512, 48 KiB L1d, 1 MiB L2).
    public static let `default` = MachineModel(peakGflopsPerCore: 150, gemmGflopsPerCore: 130, vectorGflopsPerCore: 25,
                                               dramGBps: 13, l2GBps: 100, l1Bytes: 48 << 10, l2Bytes: 1 << 20)

    /// Roofline lower bound in seconds for `flops` of arithmetic and `bytes` of DRAM traffic.
    public func roofline(flops: Double, bytes: Double, threads: Int) -> Double {
        let t = Double(max(threads, 1))
        return max(flops / (peakGflopsPerCore * 1e9 * t), bytes / (dramGBps * 1e9 * t))
    }
}
