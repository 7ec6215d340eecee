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
        // Bands: no halo means rows are independent, so every row is a tile. Otherwise, when
        // the batch alone cannot keep the threads busy, each image splits into bands: one per
        // thread at least, and up to 4 per thread while the rows recomputed at band edges cost
        // under 6%. Threads take tiles dynamically, so a few tiles each let a thread on a busy
        // core hand work to the other instead of making everyone wait for it.
        let bands: Int
        if halo == 0 {
            bands = s.rows
        } else if s.batch >= threads {
            bands = 1
        } else {
            let least = (threads + s.batch - 1) / s.batch, most = max(s.rows / 4, 1)
            let options = (1...4).map { min($0 * least, most) }
            bands = options.last { recomputeFactor(body: body, schedule: s, bands: $0) <= 1.06 } ?? options[0]
        }
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
            fusedCompute += seconds * recomputeFactor(of: node, schedule: s, bands: bands)
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

    /// Each band recomputes the rows of a value that its neighbours also compute: the factor
    /// on that node's work.
    static func recomputeFactor(of node: Node, schedule s: RowSchedule, bands: Int) -> Double {
        let extra = node.outputs.map { s.lead[$0.index] + s.back[$0.index] }.max()!
        return 1 + Double(extra * (bands - 1)) / Double(max(s.rows, 1))
    }

    /// The whole block's work with `bands` bands over its work with one, weighted by FLOPs.
    static func recomputeFactor(body: Function, schedule s: RowSchedule, bands: Int) -> Double {
        var total = 0.0, weighted = 0.0
        for node in body.nodes {
            let flops = node.op.info.flops(node.inputs.map(body.type(of:)), node.outputs.map(body.type(of:)), node.attributes)
            total += flops
            weighted += flops * recomputeFactor(of: node, schedule: s, bands: bands)
        }
        return total > 0 ? weighted / total : 1
    }
}
