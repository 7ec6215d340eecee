import KilnIR
import KilnPasses

/// Register tiles for the interior columns of a large depthwise convolution (ConvNeXt's 7 x 7).
///
/// Evaluated one pixel at a time, each tap is an FMA on two loads (input and weight), so the
/// loop runs at the load ports' rate, half the FMA rate. A tile of adjacent pixels per channel
/// vector instead walks the taps once: each weight is loaded once and feeds one FMA per pixel,
/// and a pixel's inputs are the next pixel's inputs shifted by one column, so a kernel row
/// of a tile of `p` pixels costs `kw` weight loads and `p + kw - 1` input loads for `p * kw` FMAs.
/// The taps are emitted tap by tap, so a weight and an input live only while they are used:
/// evaluating whole pixels one after the other let LLVM keep all 49 weights live and spill.
extension FusedRows {
    /// Adjacent pixels per register tile, one accumulator (an FMA chain) each: 8 chains cover
    /// 2 FMA pipes x 4 cycles of latency. With 4, ConvNeXt's block measured 2-4% slower on a
    /// Zen 3 (AVX2: 8 accumulators, a weight and the inputs in flight fit its 16 registers).
    static let depthwiseTilePixels = 8

    /// Whether step `step` is a depthwise convolution large enough for register tiles.
    static func usesDepthwiseTiles(_ step: RowSchedule.Step) -> Bool {
        if case .depthwise(let kh, let kw, _, _) = step { return kh * kw > smallKernelTaps }
        return false
    }

    /// `store(x, value)` for each of `pixels` (interior columns, adjacent, in order) of
    /// depthwise node `n` at row `y` and channel `c`, as one register tile.
    mutating func depthwiseTile(_ n: Node, kh: Int, kw: Int, top: Int, left: Int, y: KExpr, pixels: [KExpr], c: KExpr,
                                store: (KExpr, KExpr) -> KStmt) -> [KStmt] {
        let input = n.inputs[0], w = argumentBuffer(n.inputs[1])
        let ch = schedule.channels[n.outputs[0].index]
        let start: KExpr = n.inputs.count > 2 ? .load(argumentBuffer(n.inputs[2]), c) : .float(0)
        let acc = pixels.map { _ in fresh("acc") }
        var stmts = acc.map { KStmt.variable($0, start) }
        for dy in 0..<kh {
            let yy = y - .int(top) + .int(dy)
            let (ib, ibase) = row(input, interiorRow ? yy : .iop(.min, .iop(.max, yy, 0), .int(schedule.rows - 1)))
            let rowValid: KCond? = interiorRow ? nil : .and(.ige(yy, 0), .ilt(yy, .int(schedule.rows)))
            for dx in 0..<kw {
                // conv2d_backward_input (the transposed depthwise convolution) reads the kernel flipped.
                let tap = n.op == .conv2d_backward_input ? (kh - 1 - dy) * kw + (kw - 1 - dx) : dy * kw + dx
                let load = KExpr.load(w, .int(tap * ch) + c)
                let weight = fresh("w")
                stmts.append(.variable(weight, rowValid.map { .select($0, load, .float(0)) } ?? load))
                for (p, x) in pixels.enumerated() {
                    let tapInput = KExpr.load(ib, ibase + (x - .int(left) + .int(dx)) * .int(ch) + c)
                    stmts.append(.assign(acc[p], .fop(.add, .fvar(acc[p]), .fop(.mul, tapInput, .fvar(weight)))))
                }
            }
        }
        return stmts + zip(pixels, acc).map { store($0, .fvar($1)) }
    }
}
