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

    /// Kernels of at most this many taps count as small (`depthwiseUnroll`, `depthwiseChains`).
    static let smallKernelTaps = 9

    /// Interior columns per group of adjacent pixels per channel vector. With small kernels
    /// the group's taps load the same weights and overlapping inputs, which LLVM loads once
    /// (MobileNetV2 3x3, 4 pixels: −11% at 1 thread). With 7 x 7, LLVM kept the 49 weights of a
    /// group live across its 4 pixels and spilled them (AVX2 has 16 registers): ConvNeXt's
    /// depthwise pass took 12% of the block at 1 thread on a Zen 3, one pixel at a time 9%.
    var depthwiseUnroll: Int {
        var taps = 0
        for step in schedule.steps { if case .depthwise(let kh, let kw, _, _) = step { taps = max(taps, kh * kw) } }
        return taps > FusedRows.smallKernelTaps ? 1 : 4
    }

    /// Rows in which every depthwise tap of the block reads a row of the image (nil: none do).
    var interiorRows: Range<Int>? {
        var lo = 0, hi = 0
        for step in schedule.steps {
            if case .depthwise(let kh, _, let top, _) = step {
                lo = max(lo, top)
                hi = max(hi, kh - 1 - top)
            }
        }
        return schedule.rows - hi > lo ? lo..<(schedule.rows - hi) : nil
    }

    /// `columnLoops` for row `y`: in interior rows (`interiorRows`) the depthwise taps skip
    /// their row checks, so the interior columns are FMAs on plain loads (on a Zen 3 the
    /// ConvNeXt depthwise pass carried a select per tap row and spilled them).
    mutating func columnLoops(channels: Int, y: KExpr, body: (KExpr, KExpr, KExpr) -> KStmt,
                              value: (FusedRows, KExpr, KExpr) -> KExpr, tile: TileBody? = nil) -> [KStmt] {
        let general = columnLoops(channels: channels, body: body, value: value, tile: tile)
        var inner = self
        inner.interiorRow = true
        guard let rows = interiorRows,
              value(inner, .int(0), .int(0)) != value(self, .int(0), .int(0)) else { return general }
        let interior = inner.columnLoops(channels: channels, body: body, value: value, tile: tile)
        counter = inner.counter
        // outside = 0 exactly in the interior rows.
        let outside = fresh("outside")
        return [
            .letInt(outside, .iop(.max, .int(rows.lowerBound) - y, 0) + .iop(.max, y - .int(rows.upperBound - 1), 0)),
            .ifThen(.ilt(.ivar(outside), 1), interior),
            .ifThen(.ige(.ivar(outside), 1), general),
        ]
    }

    /// Statements for a group of adjacent interior pixels at one channel (`FusedRows+DepthwiseTile`).
    typealias TileBody = (inout FusedRows, [KExpr], KExpr) -> [KStmt]

    /// `for x < width, c < channels: body(value at x, c)`, with the columns split into edge and
    /// interior ranges when `value` differs there (it reads a depthwise convolution). With
    /// `tile`, interior columns run `depthwiseTilePixels` at a time through it instead.
    mutating func columnLoops(channels: Int, body: (KExpr, KExpr, KExpr) -> KStmt,
                              value: (FusedRows, KExpr, KExpr) -> KExpr, tile: TileBody? = nil) -> [KStmt] {
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
        let unroll = tile == nil ? depthwiseUnroll : FusedRows.depthwiseTilePixels
        let groups = interior.count / unroll
        var unrolled: [KStmt] = []
        if groups > 0 {
            let g = fresh("xg")
            let pixels = (0..<unroll).map { KExpr.ivar(g) * .int(unroll) + .int(interior.lowerBound + $0) }
            let groupBody: [KStmt]
            if let tile {
                inner.counter = counter
                groupBody = tile(&inner, pixels, cv)
                counter = inner.counter
            } else {
                groupBody = pixels.map { px in body(px, cv, mid.substituting(x, with: px)) }
            }
            unrolled = [.loop(g, .int(groups), parallel: false, [.loop(c, .int(channels), parallel: false, groupBody)])]
        }
        let rest = (interior.lowerBound + groups * unroll)..<interior.upperBound
        return range(0..<interior.lowerBound, edge) + unrolled + range(rest, mid) + range(interior.upperBound..<width, edge)
    }
}
