import KilnIR

/// One linear_attention (or its backward) as the cost model sees it.
public struct LinearAttentionProblem: Sendable, Hashable {
    public var gate: LinearAttentionGate
    public var batch: Int, seqLen: Int, heads: Int, dk: Int, dv: Int
    /// The reverse pass (linear_attention_backward) rather than the forward.
    public var backward: Bool

    public init(gate: LinearAttentionGate, batch: Int, seqLen: Int, heads: Int, dk: Int, dv: Int, backward: Bool = false) {
        self.gate = gate
        self.batch = batch
        self.seqLen = seqLen
        self.heads = heads
        self.dk = dk
        self.dv = dv
        self.backward = backward
    }
}

/// The predicted cost of one schedule of a linear-attention op.
public struct LinearAttentionEstimate: Sendable, Hashable {
    /// 0 for the recurrent form, else the chunk size.
    public var chunk: Int
    /// FLOPs of this schedule (reference/chunkwise.md §3, F = 1/2).
    public var flops: Double
    /// Predicted wall time in seconds on the given threads.
    public var seconds: Double
    /// Bytes of working set per (batch, head) that should stay in L2.
    public var workingSetBytes: Int
    /// Bytes of scratch the schedule needs in total (the recurrent backward keeps every state).
    public var scratchBytes: Double
    /// Why this schedule cannot be used, when it cannot.
    public var infeasible: String?
    /// The quadratic parallel form (then `chunk` is 0).
    public var parallel: Bool = false
}

/// The CPU cost model of reference/chunkwise.md §3 for choosing between the recurrent form and
/// the chunkwise form with chunk size C. Times are per (batch, head) pair, then scaled by how
/// many rounds of pairs the threads need (the kernels are parallel over (batch, head) only).
public struct LinearAttentionCostModel: Sendable {
    public var machine: MachineModel
    public var threads: Int
    /// Scratch the recurrent backward may use before the chunkwise form is forced (bytes).
    public var scratchBudget: Double = 1_073_741_824

    public static let chunkSizes = [16, 32, 64, 128, 256]

    public init(machine: MachineModel, threads: Int) {
        self.machine = machine
        self.threads = max(threads, 1)
    }

    /// FLOPs of the chunkwise forward (§3 with F = 1/2), the count `kiln bench` reports GFLOP/s
    /// against: 4·L·Dk·Dv + 2·(L/C)·Dk·Dv + 2F·L·C·(Dk+Dv) per (batch, head), plus DeltaNet's
    /// per-chunk extras 2F·C²·Dk + C³/3 + C²(Dk+Dv) + 2C·Dk·Dv.
    public static func chunkwiseFlops(_ p: LinearAttentionProblem, chunk c: Int) -> Double {
        let (l, dk, dv) = (Double(p.seqLen), Double(p.dk), Double(p.dv))
        let cc = Double(min(c, p.seqLen)), chunks = (l / cc).rounded(.up), f = 0.5
        var perHead = 4 * l * dk * dv + 2 * chunks * dk * dv + 2 * f * l * cc * (dk + dv)
        if p.gate == .delta {
            perHead += chunks * (2 * f * cc * cc * dk + cc * cc * cc / 3 + cc * cc * (dk + dv) + 2 * cc * dk * dv)
        }
        return perHead * Double(p.batch * p.heads)
    }

    /// FLOPs of the recurrent form: 4·L·Dk·Dv (+L·Dk·Dv for a decay, 6·L·Dk·Dv for DeltaNet).
    public static func recurrentFlops(_ p: LinearAttentionProblem) -> Double {
        let per = p.gate == .delta ? 6.0 : p.gate == .none ? 4 : 5
        return per * Double(p.seqLen * p.dk * p.dv) * Double(p.batch * p.heads)
    }

    /// Efficiency of the GEMM micro-kernel on an m x n x k problem relative to large squares:
    /// each dimension below ~16 wastes register tiles and packing, so η = Π d / (d + 8).
    static func gemmEfficiency(_ m: Int, _ n: Int, _ k: Int) -> Double {
        [m, n, k].map { Double($0) / (Double($0) + 8) }.reduce(1, *)
    }

    /// How many sequential rounds of (batch, head) pairs the threads run.
    func rounds(_ p: LinearAttentionProblem) -> Double { (Double(max(p.batch * p.heads, 1)) / Double(threads)).rounded(.up) }

    public func estimateRecurrent(_ p: LinearAttentionProblem) -> LinearAttentionEstimate {
        let stateBytes = 4 * p.dk * p.dv
        let perToken = Double(p.dk * p.dv)
        // Each token reads and writes the state once for the update and reads it for the output:
        // bandwidth-bound from L2 when the state fits there, from DRAM when it does not.
        let bw = stateBytes <= machine.l2Bytes / 2 ? machine.l2GBps : machine.dramGBps
        let flopsPerHead = Self.recurrentFlops(p) / Double(p.batch * p.heads)
        let compute = flopsPerHead / (machine.vectorGflopsPerCore * 1e9)
        let memory = Double(p.seqLen) * 3 * 4 * perToken / (bw * 1e9)
        var seconds = max(compute, memory)
        // The reverse sweep recomputes the states and walks them back: about three times the work.
        if p.backward { seconds *= 3 }
        let scratch = p.backward ? Double(p.batch * p.heads) * Double(p.seqLen + 1) * Double(stateBytes) : 0
        let over = scratch > scratchBudget
            ? "the recurrent backward keeps all \(p.seqLen + 1) states (\(Self.megabytes(scratch)) > budget \(Self.megabytes(scratchBudget)))"
            : nil
        return LinearAttentionEstimate(chunk: 0, flops: Self.recurrentFlops(p) * (p.backward ? 3 : 1), seconds: seconds * rounds(p),
                                       workingSetBytes: stateBytes, scratchBytes: scratch, infeasible: over)
    }

    public func estimateChunkwise(_ p: LinearAttentionProblem, chunk: Int) -> LinearAttentionEstimate {
        let (l, dk, dv) = (Double(p.seqLen), Double(p.dk), Double(p.dv))
        let c = min(chunk, p.seqLen), cc = Double(c)
        let chunks = (l / cc).rounded(.up)
        let gemm = machine.gemmGflopsPerCore * 1e9, vec = machine.vectorGflopsPerCore * 1e9
        let f = 0.5
        // K^T V and Q S: C x Dv x Dk GEMMs; Q K^T and A V: C x C x D GEMMs (half of the tile used).
        var t = chunks * (4 * cc * dk * dv / (gemm * Self.gemmEfficiency(c, p.dv, p.dk))
                          + 2 * f * cc * cc * dk / (gemm * Self.gemmEfficiency(c, c, p.dk))
                          + 2 * f * cc * cc * dv / (gemm * Self.gemmEfficiency(c, p.dv, c)))
        // State decay, the C x C decay mask and row scalings: elementwise work.
        let cg = p.gate == .none ? 1.0 : 4
        t += chunks * (dk * dv + cg * cc * cc + cg * cc * (dk + dv)) / vec
        switch p.gate {
        case .key:
            // Per-key gates, BC = 16: the earlier rows' factors e^{r − B} for each sub-chunk (≈ C/BC
            // per row and key dim, exps) and the diagonal blocks' in-block recurrence (≈ BC/2
            // multiply-adds per row and key dim), at ~4 vector ops each.
            t += chunks * cc * dk * (cc / 16 + 8) * 4 / vec
        case .delta:
            // K K^T, T·(βK), T·(βV), W·S on the GEMM; the triangular solve elementwise.
            t += chunks * ((2 * f * cc * cc * dk + cc * cc * (dk + dv)) / (gemm * Self.gemmEfficiency(c, c, p.dk))
                           + 2 * cc * dk * dv / (gemm * Self.gemmEfficiency(c, p.dv, p.dk)))
            t += chunks * cc * cc * cc / 3 / vec
        case .none, .scalar:
            break
        }
        // The state stays in L2 across chunks when the working set fits; otherwise it is
        // written and read back every chunk.
        let working = 4 * (c * (2 * p.dk + p.dv) + p.dk * p.dv + c * c)
        if working > machine.l2Bytes {
            t += chunks * 2 * 4 * dk * dv / (machine.dramGBps * 1e9)
        }
        // Backward: recompute the chunk states, then about twice the forward's matrix work.
        if p.backward { t *= 3 }
        let scratch = Double(p.batch * p.heads) * (chunks + 1) * 4 * dk * dv
        return LinearAttentionEstimate(chunk: chunk, flops: Self.chunkwiseFlops(p, chunk: chunk) * (p.backward ? 3 : 1),
                                       seconds: t * rounds(p), workingSetBytes: working, scratchBytes: scratch, infeasible: nil)
    }

    /// Bytes of scratch the parallel form needs: per (batch, head) the T x T scores plus about
    /// ten T x D operand copies (scaled Q, Kᵀ, gates and their decays, the key-gate factors).
    public func parallelScratchBytes(_ p: LinearAttentionProblem) -> Double {
        let t = Double(p.seqLen)
        return Double(p.batch * p.heads) * 4 * (t * t + 10 * t * Double(max(p.dk, p.dv)))
    }

    /// The quadratic parallel form: the chunkwise kernel with one chunk of C = T, plus writing
    /// and reading the T x T scores, which leave the caches once T passes a few hundred.
    /// Infeasible when its scratch exceeds `scratchBudget`. Ties go to the chunkwise form (it
    /// is listed first), so at T ≤ 256, where the two are the same kernel, chunkwise is kept.
    public func estimateParallel(_ p: LinearAttentionProblem) -> LinearAttentionEstimate {
        var e = estimateChunkwise(p, chunk: p.seqLen)
        let t = Double(p.seqLen)
        if 4 * t * t > Double(machine.l2Bytes) {
            e.seconds += 2 * 4 * t * t / (machine.dramGBps * 1e9) * rounds(p)
        }
        e.chunk = 0
        e.parallel = true
        e.workingSetBytes = Int(min(4 * t * t, Double(Int.max / 2)))
        e.scratchBytes = parallelScratchBytes(p)
        if p.backward {
            e.infeasible = "no backward kernel of its own"
        } else if e.scratchBytes > scratchBudget {
            e.infeasible = "the T x T scores need \(Self.megabytes(e.scratchBytes)) > budget \(Self.megabytes(scratchBudget))"
        }
        return e
    }

    /// Every candidate: the recurrent form first, then each chunk size, then (forward only) the
    /// parallel form.
    public func candidates(_ p: LinearAttentionProblem) -> [LinearAttentionEstimate] {
        [estimateRecurrent(p)] + Self.chunkSizes.map { estimateChunkwise(p, chunk: $0) } + (p.backward ? [] : [estimateParallel(p)])
    }

    /// The fastest feasible candidate. Chunk sizes larger than the sequence only repeat the
    /// smallest chunk that covers it, so they are skipped.
    public func best(_ p: LinearAttentionProblem) -> LinearAttentionEstimate {
        let usable = candidates(p).filter { $0.infeasible == nil && ($0.chunk <= max(p.seqLen, 16) || $0.chunk == 0) }
        return usable.min { $0.seconds < $1.seconds }!
    }

    static func megabytes(_ b: Double) -> String {
        b >= 1_073_741_824 ? "\((b / 1_073_741_824 * 10).rounded() / 10) GiB" : "\((b / 1_048_576 * 10).rounded() / 10) MiB"
    }
}
