internal import CLLVM

/// A JIT-compiled loop of independent vector FMAs on registers only: the core's measured
/// floating-point peak, the ceiling above the OpenBLAS sgemm rate that `kiln bench` uses as
/// its compute roof.
///
/// It keeps as many accumulator chains as the GEMM micro-kernel's register tile (12 ymm on
/// AVX2, 28 zmm on AVX-512), so it measures the rate that tile could reach if no load, store
/// or call ever got in the way. The multiplier and addend are arguments, so LLVM cannot fold
/// the FMA into an add (which would run on other pipes).
public final class FmaPeakKernel: @unchecked Sendable {
    typealias Entry = @convention(c) (Int64, Float, Float) -> Float
    public let target: HostTarget
    /// Independent accumulator vectors.
    public let chains: Int
    /// Floats per vector.
    public let width: Int
    /// FMA rounds per loop iteration (each round is one FMA per chain).
    public let unroll = 4
    let code: CompiledCode
    let entry: Entry

    static let name = "kiln_fma_peak"

    public init(target: HostTarget = .host, jit: JIT? = nil) throws {
        self.target = target
        let tile = GemmTile.forTarget(target)
        width = tile.width
        chains = tile.mr * tile.nr / tile.width
        let module = try Module(name: "kiln_fma_peak", target: target)
        FmaPeakKernel.emit(into: module, chains: chains, width: width, unroll: unroll)
        try module.verify()
        try module.optimize()
        let jit = try jit ?? JIT(target: target)
        code = try jit.add(module)
        entry = unsafeBitCast(try code.address(of: FmaPeakKernel.name), to: Entry.self)
    }

    /// Floating-point operations of one loop iteration (an FMA counts two).
    public var flopsPerIteration: Double { Double(2 * chains * width * unroll) }

    /// Runs `iterations` iterations of `acc = acc * x + y` on every lane of every chain, all
    /// starting at 0, and returns the sum of all lanes (the work cannot be optimized away).
    /// With `x = 1` and a `y` whose multiples stay exact, that sum is
    /// `chains * width * unroll * iterations * y`.
    public func run(iterations: Int, x: Float = 1, y: Float = 0.5) -> Float {
        entry(Int64(max(iterations, 0)), x, y)
    }

    /// `float kiln_fma_peak(i64 n, float x, float y)`.
    static func emit(into m: Module, chains: Int, width: Int, unroll: Int) {
        let fn = m.function(name, returns: m.f32, [m.i64, m.f32, m.f32])
        let (n, xs, ys) = (LLVMGetParam(fn, 0)!, LLVMGetParam(fn, 1)!, LLVMGetParam(fn, 2)!)
        let vec = m.vector(width)
        let fma = m.intrinsic("llvm.fma", vec)
        let entry = m.block(fn, "entry"), loop = m.block(fn, "loop"), done = m.block(fn, "done")
        m.position(at: entry)
        let (x, y) = (m.splat(xs, width), m.splat(ys, width))
        let zero = LLVMConstNull(vec)!
        LLVMBuildCondBr(m.builder, LLVMBuildICmp(m.builder, LLVMIntSGT, n, m.int(0), "")!, loop, done)

        m.position(at: loop)
        let i = LLVMBuildPhi(m.builder, m.i64, "i")!
        let phis = (0..<chains).map { _ in LLVMBuildPhi(m.builder, vec, "acc")! }
        var acc = phis
        for _ in 0..<unroll {
            for c in 0..<chains { acc[c] = m.call(fma, [acc[c], x, y]) }
        }
        let next = LLVMBuildAdd(m.builder, i, m.int(1), "")!
        LLVMBuildCondBr(m.builder, LLVMBuildICmp(m.builder, LLVMIntSLT, next, n, "")!, loop, done)
        var iv: [LLVMValueRef?] = [m.int(0), next], blocks: [LLVMBasicBlockRef?] = [entry, loop]
        LLVMAddIncoming(i, &iv, &blocks, 2)
        for (phi, value) in zip(phis, acc) {
            var vals: [LLVMValueRef?] = [zero, value]
            LLVMAddIncoming(phi, &vals, &blocks, 2)
        }

        // Sum every lane of every chain: chains pairwise, then the lanes of the last vector.
        m.position(at: done)
        var sums = zip(phis, acc).map { phi, value -> LLVMValueRef in
            let merged = LLVMBuildPhi(m.builder, vec, "sum")!
            var vals: [LLVMValueRef?] = [zero, value]
            LLVMAddIncoming(merged, &vals, &blocks, 2)
            return merged
        }
        while sums.count > 1 {
            sums = stride(from: 0, to: sums.count, by: 2).map { k in
                k + 1 < sums.count ? LLVMBuildFAdd(m.builder, sums[k], sums[k + 1], "")! : sums[k]
            }
        }
        var total = LLVMBuildExtractElement(m.builder, sums[0], m.int(0), "")!
        for lane in 1..<width {
            total = LLVMBuildFAdd(m.builder, total, LLVMBuildExtractElement(m.builder, sums[0], m.int(lane), "")!, "")!
        }
        LLVMBuildRet(m.builder, total)
    }
}
