import KilnIR
import KilnPasses

/// Edge and interior columns for row loops that evaluate a depthwise convolution.
///
/// Near the left and right image edges a tap can fall outside the row, so each tap clamps
/// its address and selects a zero weight. In the interior columns every tap is inside, so
/// the same loop without those checks is a plain chain of vector FMAs. Row loops whose value
/// reads a depthwise convolution are therefore emitted as three column ranges.
extension FusedRows {
    /// Columns in which every depthwise tap of the block reads inside the row (nil: none do).
    var interiorColumns: Range<Int>? {
        var lo = 0, hi = 0
        for step in schedule.steps {
            if case .depthwise(_, let kw, _, let left) = step {
                lo = max(lo, left)
                hi = max(hi, kw - 1 - left)
            }
        }
        return width - hi > lo ? lo..<(width - hi) : nil
    }

    /// `for x < width, c < channels: body(value at x, c)`, with the columns split into edge and
    /// interior ranges when `value` differs there (it reads a depthwise convolution).
    mutating func columnLoops(channels: Int, body: (KExpr, KExpr, KExpr) -> KStmt,
                              value: (FusedRows, KExpr, KExpr) -> KExpr) -> [KStmt] {
        let x = fresh("x"), c = fresh("c")
        let (xv, cv) = (KExpr.ivar(x), KExpr.ivar(c))
        let edge = value(self, xv, cv)
        var inner = self
        inner.interiorOnly = true
        let mid = value(inner, xv, cv)
        guard edge != mid, let interior = interiorColumns else {
            return [.loop(x, .int(width), parallel: false, [.loop(c, .int(channels), parallel: false, [body(xv, cv, edge)])])]
        }
        func range(_ r: Range<Int>, _ v: KExpr) -> [KStmt] {
            guard !r.isEmpty else { return [] }
            let i = fresh("xi")
            return [.loop(i, .int(r.count), parallel: false, [
                .letInt(x, .ivar(i) + .int(r.lowerBound)),
                .loop(c, .int(channels), parallel: false, [body(xv, cv, v)]),
            ])]
        }
        // Interior columns in groups of `unroll` adjacent pixels per channel vector: their taps
        // load the same weights and overlapping inputs, which LLVM then loads once.
        let unroll = 4
        let groups = interior.count / unroll
        var unrolled: [KStmt] = []
        if groups > 0 {
            let g = fresh("xg")
            let pixels = (0..<unroll).map { KExpr.ivar(g) * .int(unroll) + .int(interior.lowerBound + $0) }
            unrolled = [.loop(g, .int(groups), parallel: false, [
                .loop(c, .int(channels), parallel: false, pixels.map { px in body(px, cv, mid.substituting(x, with: px)) }),
            ])]
        }
        let rest = (interior.lowerBound + groups * unroll)..<interior.upperBound
        return range(0..<interior.lowerBound, edge) + unrolled + range(rest, mid) + range(interior.upperBound..<width, edge)
    }
}
