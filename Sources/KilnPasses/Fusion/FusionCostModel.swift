import KilnIR

/// Predicted times for one residual block, fused (row schedule) and as separate kernels.
public struct FusionEstimate: Sendable {
    public var fusedSeconds: Double
    public var unfusedSeconds: Double
    /// max(FLOPs / peak, compulsory DRAM bytes / bandwidth) over the threads.
    public var rooflineSeconds: Double
    /// Per-thread scratch of the fused kernel (its row rings).
    public var scratchBytes: Int
    /// Row bands per image (the parallel tiles are batch x bands).
    public var bands: Int
}

/// The cost model behind `fuse-residual-blocks`.
///
/// Fused: every op's arithmetic at its kernel's rate (row matmuls at the micro-kernel's rate
/// times its tile occupancy, the rest at the vector rate), halo rows recomputed once per band,
/// overlapped with the compulsory DRAM traffic (block inputs, weights, output).
/// Separate kernels: each op is the slower of its arithmetic and its traffic, and an
/// intermediate larger than the threads' L2 goes to DRAM and back.
public enum FusionCostModel {
    public static func estimate(body: Function, schedule s: RowSchedule, machine: MachineModel, threads: Int) -> FusionEstimate {
        let t = Double(max(threads, 1))
        let halo = s.haloRows
        // Bands: no halo means rows are independent, so every row is a tile; otherwise give
        // each thread a band when the batch alone cannot keep them busy.
        let bands = halo == 0 ? s.rows : (s.batch >= threads ? 1 : min((threads + s.batch - 1) / s.batch, max(s.rows / 4, 1)))
        let tileM = 14.0, tileN = 32.0
        var fusedCompute = 0.0, unfused = 0.0
        for (node, step) in zip(body.nodes, s.steps) {
            let ins = node.inputs.map(body.type(of:)), outs = node.outputs.map(body.type(of:))
            let flops = node.op.info.flops(ins, outs, node.attributes)
            var rate = machine.vectorGflopsPerCore * 1e9
            switch step {
            case .rowMatmul, .dense:
                let n = Double(outs[0].shape.last!), m = Double(s.width)
                let occupancy = (n / ((n / tileN).rounded(.up) * tileN)) * (m / ((m / tileM).rounded(.up) * tileM))
                rate = machine.gemmGflopsPerCore * 1e9 * occupancy
            default: break
            }
            let seconds = flops / rate
            // As a separate kernel, a k x k dense convolution is a loop nest, not a GEMM.
            var separateSeconds = seconds
            if case .dense = step { separateSeconds = flops / (machine.vectorGflopsPerCore * 1e9) }
            // Each band recomputes the rows of this value that its neighbours also compute.
            let extra = node.outputs.map { s.lead[$0.index] + s.back[$0.index] }.max()!
            fusedCompute += seconds * (1 + Double(extra * (bands - 1)) / Double(max(s.rows, 1)))
            let outBytes = Double(outs.reduce(0) { $0 + $1.elementCount } * 4)
            let inBytes = Double(ins.reduce(0) { $0 + $1.elementCount } * 4)
            let spills = outBytes > Double(machine.l2Bytes) * t
            let bandwidth = (spills ? machine.dramGBps : machine.l2GBps) * 1e9
            // Every intermediate is written by one kernel and read back by the next.
            unfused += max(separateSeconds / t, (inBytes + 2 * outBytes) / (bandwidth * t))
        }
        let argumentElements: Int = body.arguments.map { body.type(of: $0).elementCount }.reduce(0, +)
        let resultElements: Int = body.results.map { body.type(of: $0).elementCount }.reduce(0, +)
        let compulsory = Double((argumentElements + resultElements) * 4)
        let memory = compulsory / (machine.dramGBps * 1e9 * t)
        let fused = max(fusedCompute / t, memory)
        let roof = machine.roofline(flops: body.flops, bytes: compulsory, threads: threads)
        return FusionEstimate(fusedSeconds: fused, unfusedSeconds: unfused, rooflineSeconds: roof,
                              scratchBytes: s.scratchFloats(body: body) * 4, bands: bands)
    }
}
