import KilnIR

/// Software prefetches of the chunkwise linear-attention kernels. Their operands stream from
/// DRAM in [B,T,H,D] layout, a head's rows 2 KB apart, so the hardware prefetchers stop at every
/// page and each chunk's first touch would wait on memory.
extension LowerContext {
    /// Prefetches row `row` of the next chunk of Q, K, V and, for gates none and
    /// scalar, O (for writing). The operands stream from DRAM in [B,T,H,D] layout: a head's rows
    /// are 2 KB apart, so the hardware prefetchers stop at every page and each chunk's first
    /// touch waited on memory. Callers spread the rows over a loop that runs long, so the misses
    /// overlap with work instead of queueing up in one burst. Per-key gates (whose prefetches sit
    /// in the shorter diagonal-row loop) leave O out: with it the GLA forward was 5–7% slower at
    /// 1 thread, the write-allocates competing with the reads for miss slots; RetNet was 2–3%
    /// faster with it. `reads: false` leaves Q, K and V to the spread prefetches
    /// (`spreadNextChunkPrefetch`) and keeps only O: the gather loop of gates none and scalar
    /// issues these 32 lines per row in a burst at the start of each chunk, and at T = 64k
    /// (operands from DRAM) a 2-thread profile of the linear forward spent 16% of the kernel
    /// stalled on them (3% at T = 4k). With O alone, `kiln run --ab-env`: linear 0.902 (2
    /// threads) and 0.854 (1) at 64k, 1.000 at 4k; RetNet 0.963 at 64k, 0.991 at 4k. Without O
    /// too, the linear forward at 64k was 1.18x slower.
    func prefetchNextChunkRow(_ p: ChunkwisePlan, row: KExpr, reads: Bool = true) -> [KStmt] {
        let next: KExpr = .int(p.chunk) + row
        let lines = { (width: Int, buffers: [Int], write: Bool) -> KStmt in
            .loop("l", .int((width + 15) / 16), parallel: false, buffers.map { .prefetch($0, p.at(next, width) + v("l") * 16, write: write) })
        }
        var body = reads ? [lines(p.dk, [p.q, p.k], false), lines(p.dv, [p.val], false)] : []
        if p.gate != .key, p.o >= 0 { body.append(lines(p.dv, [p.o], true)) }
        return [.ifThen(.ilt(v("c0") + next, .int(p.tl)), body)]
    }

    /// Per-tile statements of a long matmul (`TileMatmul.perTile`) that prefetch the rows of
    /// `operands` ([B,T,H,width]) of the chunk `chunksAhead` chunks away (before this one, if
    /// negative), a few lines per tile, spread evenly over its tiles.
    /// The row loops' prefetches come in bursts (24-32 lines per row), and on a Zen 3 a burst
    /// loses most of its lines (Benchmarks/results/session11/prefetch-bursts.c: a load phase took
    /// 15.3 ms after bursts, 7.4 ms after the same lines spread thinly). Issuing every line again
    /// here, 4-8 per tile of the state update, made the forward 5-7% faster for gates key,
    /// scalar and none at 1 and 2 threads (`kiln run --ab-env`, 40-60 alternating rounds). The
    /// key-gate row loops keep their read prefetches; the gather of gates none and scalar keeps
    /// only O's (see `prefetchNextChunkRow`, `reads`). The forward splits its lines
    /// over the inter-chunk output and the state update: all of them in the state update alone
    /// crowded the misses into a quarter of the chunk, and at T = 64k (operands from DRAM, not L3)
    /// 12% of the GLA forward stalled on its prefetches. Split, T = 64k: GLA 0.927, RetNet 0.932,
    /// linear 0.953 (2 threads); T = 4k within 1.5%.
    func spreadNextChunkPrefetch(_ p: ChunkwisePlan, _ operands: [(buffer: Int, width: Int)], chunksAhead: Int = 1) -> [KStmt] {
        let lines = (operands.map(\.width).max()! + 15) / 16, slots = p.chunk * lines
        let first: KExpr = v("tile") * .int(slots) / v("tiles"), end: KExpr = (v("tile") + 1) * .int(slots) / v("tiles")
        let target: KExpr = .int(chunksAhead * p.chunk) + v("r")
        let exists = chunkRowExists(p, target, chunksAhead: chunksAhead)
        return [.loop("s", end - first, parallel: false, [
            .letInt("x", first + v("s")),
            .letInt("r", v("x") / .int(lines)),
            .letInt("l", v("x") % .int(lines)),
            .ifThen(.and(.ilt(v("x"), .int(slots)), exists), operands.map { op in
                .ifThen(.ilt(v("l"), .int((op.width + 15) / 16)), [.prefetch(op.buffer, p.at(target, op.width) + v("l") * 16, write: false)])
            }),
        ])]
    }

    /// Prefetches row `row` of the next chunk's per-key gates G, from the gather loop. G is the
    /// first operand a chunk touches (its cumulative sums); prefetched with Q, K and V from the
    /// diagonal rows it still missed (that loop issues 32 lines per row in a short burst), and the
    /// exp pass over it took 16% of the GLA forward at 1 thread on a Zen 3. From the gather loop,
    /// a chunk ahead: 8%, the forward kernel −10%.
    func prefetchNextChunkGateRow(_ p: ChunkwisePlan, row: KExpr) -> [KStmt] {
        prefetchChunkRow(p, row: row, chunksAhead: 1, [(p.g!, p.dk)])
    }

    /// Prefetches row `row` of the chunk `chunksAhead` chunks after this one (before it, if
    /// negative: the backward's second phase walks the chunks down) in each [B,T,H,width]
    /// operand, when that chunk exists, for reading. Same reason and placement as
    /// `prefetchNextChunkRow`.
    func prefetchChunkRow(_ p: ChunkwisePlan, row: KExpr, chunksAhead: Int, _ operands: [(buffer: Int, width: Int)]) -> [KStmt] {
        let target: KExpr = .int(chunksAhead * p.chunk) + row
        return [.ifThen(chunkRowExists(p, target, chunksAhead: chunksAhead), operands.map { op in
            .loop("l", .int((op.width + 15) / 16), parallel: false, [.prefetch(op.buffer, p.at(target, op.width) + v("l") * 16, write: false)])
        })]
    }

    /// Whether row `target` (relative to this chunk's first, c0) is inside the sequence; only the
    /// end that `chunksAhead` moves toward needs checking.
    func chunkRowExists(_ p: ChunkwisePlan, _ target: KExpr, chunksAhead: Int) -> KCond {
        chunksAhead > 0 ? .ilt(v("c0") + target, .int(p.tl)) : .ilt(.int(-1), v("c0") + target)
    }
}
