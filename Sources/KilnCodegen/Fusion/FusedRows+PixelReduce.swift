import KilnIR
import KilnPasses

/// Reductions over every pixel inside a row-scheduled (backward) kernel: bias, norm-scale and
/// weight gradients. Each tile (image, band) owns a slice of a partial-sum buffer, zeroes it
/// when it starts and adds each of its rows once; a second kernel adds the slices in tile
/// order. Tiles, not threads, own the slices, so the result does not depend on the thread
/// count and is the same bit for bit run to run.
struct PixelPartials {
    /// Per reduced value: (value, result buffer, offset in a tile's slice, elements).
    var entries: [(value: ValueID, result: Int, offset: Int, elements: Int)] = []
    /// The partial-sum buffer: `tiles` slices of `total` floats.
    var buffer = -1
    var total: Int { entries.last.map { $0.offset + $0.elements } ?? 0 }

    func offset(of v: ValueID) -> Int? { entries.first { $0.value == v }?.offset }
}

extension FusedRows {
    /// Row `y` of the tile's contribution to pixel reduction `n` (`y` is an image row the tile
    /// owns, so each row is counted once). `slice` is the tile's base in the partial buffer.
    mutating func pixelReduceRow(_ n: Node, _ step: RowSchedule.Step, y: KExpr, partials: Int, slice: KExpr) -> [KStmt] {
        guard case .pixelReduce(let kh, let kw, let top, let left) = step else { return [] }
        let g = n.op == .reduce_sum ? n.inputs[0] : n.inputs[1]
        let ch = schedule.channels[g.index]
        let (gb, gbase) = row(g, y)
        let x = fresh("x"), c = fresh("c")
        let (xv, cv) = (KExpr.ivar(x), KExpr.ivar(c))
        if n.op == .reduce_sum {
            return [.loop(x, .int(width), parallel: false, [
                .loop(c, .int(ch), parallel: false, [
                    .store(partials, slice + cv, .fop(.add, .load(partials, slice + cv), .load(gb, gbase + xv * .int(ch) + cv))),
                ]),
            ])]
        }
        let input = n.inputs[0], cin = schedule.channels[input.index]
        if kh == 1 && kw == 1 && n.attributes.int("groups") == 1 {
            // dW[cin, ch] += X(row)^T . G(row): A is the input row read transposed.
            let (xb, xbase) = row(input, y)
            return [.matmul(TileMatmul(m: .int(cin), n: .int(ch), k: .int(width), a: xb, aOffset: xbase, aRowStride: 1, aColStride: .int(cin),
                                       b: gb, bOffset: gbase, ldb: .int(ch), c: partials, cOffset: slice, ldc: .int(ch), accumulate: true))]
        }
        // Depthwise: dW[dy, dx, c] += sum over x of X[y - top + dy, x - left + dx, c] * G[y, x, c].
        let dy = fresh("dy"), dx = fresh("dx"), yy = fresh("yy")
        let (xb, xbase) = row(input, .ivar(yy))
        let xx = xv - .int(left) + .ivar(dx)
        let tap = slice + (.ivar(dy) * .int(kw) + .ivar(dx)) * .int(ch) + cv
        return [.loop(dy, .int(kh), parallel: false, [
            .letInt(yy, y - .int(top) + .ivar(dy)),
            .ifThen(.and(.ige(.ivar(yy), 0), .ilt(.ivar(yy), .int(schedule.rows))), [
                .loop(dx, .int(kw), parallel: false, [
                    .loop(x, .int(width), parallel: false, [
                        .ifThen(.and(.ige(xx, 0), .ilt(xx, .int(width))), [
                            .loop(c, .int(ch), parallel: false, [
                                .store(partials, tap, .fop(.add, .load(partials, tap),
                                                           .fop(.mul, .load(xb, xbase + xx * .int(ch) + cv), .load(gb, gbase + xv * .int(ch) + cv)))),
                            ]),
                        ]),
                    ]),
                ]),
            ]),
        ])]
    }
}

extension LowerContext {
    /// The kernel that adds the tiles' partial sums, in tile order, into each reduced result.
    mutating func reducePartials(_ p: PixelPartials, tiles: Int) {
        let total = p.total
        guard total > 0 else { return }
        let e = KExpr.ivar("e")
        var stores: [KStmt] = []
        for entry in p.entries {
            stores.append(.ifThen(.and(.ige(e, .int(entry.offset)), .ilt(e, .int(entry.offset + entry.elements))), [
                .store(entry.result, e - .int(entry.offset), .fvar("acc")),
            ]))
        }
        kernel("fused_reduce", parallel: total, [.loop("e", .int(total), parallel: true, [
            .variable("acc", .float(0)),
            .loop("pt", .int(tiles), parallel: false, [.assign("acc", .fop(.add, .fvar("acc"), .load(p.buffer, .ivar("pt") * .int(total) + e)))]),
        ] + stores)])
    }
}
