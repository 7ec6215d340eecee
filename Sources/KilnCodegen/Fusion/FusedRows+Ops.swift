import KilnIR
import KilnPasses

/// Per-row code for each kind of node in a row-scheduled block.
extension FusedRows {
    mutating func emit(_ n: Node, _ step: RowSchedule.Step, into out: inout [KStmt], prologue: inout [KStmt],
                       context: inout LowerContext) throws {
        let o = n.outputs[0]
        if inlined.contains(o) { return }  // its reader evaluates it
        let y = fresh("y")
        let yv = KExpr.ivar(y)
        let cout = schedule.channels[o.index]
        let (ob, obase) = row(o, yv)
        let x = fresh("x"), c = fresh("c")
        let (xv, cv) = (KExpr.ivar(x), KExpr.ivar(c))
        /// for x < width, c < cout: out[x, c] = value
        func pixels(_ value: KExpr) -> [KStmt] {
            [.loop(x, .int(width), parallel: false, [
                .loop(c, .int(cout), parallel: false, [.store(ob, obase + xv * .int(cout) + cv, value)]),
            ])]
        }
        /// Same, for values that may read a depthwise convolution (edge and interior columns,
        /// the interior ones through `tile` when given).
        func columns(tile: TileBody? = nil) -> [KStmt] {
            columnLoops(channels: cout, y: yv, body: { x, c, value in .store(ob, obase + x * .int(cout) + c, value) },
                        value: { rows, x, c in rows.expression(of: n, y: yv, x: x, c: c) }, tile: tile)
        }
        switch step {
        case .pointwise:
            out += guarded(o, y, columns())

        case .rowMatmul:
            let input = n.inputs[0], cin = schedule.channels[input.index]
            let (ib, ibase) = row(input, yv)
            let wp = packed(n.inputs[1], k: cin, n: cout, prologue: &prologue, context: &context)
            var stmts: [KStmt] = [.matmul(TileMatmul(m: .int(width), n: .int(cout), k: .int(cin), a: ib, aOffset: ibase, aRowStride: .int(cin),
                                                     b: wp, bOffset: 0, ldb: .int(cout),
                                                     c: ob, cOffset: obase, ldc: .int(cout), accumulate: false, bPanels: context.panels(depth: cin)))]
            if n.inputs.count > 2 {
                let bias = argumentBuffer(n.inputs[2])
                stmts += pixels(.fop(.add, .load(ob, obase + xv * .int(cout) + cv), .load(bias, cv)))
            }
            out += guarded(o, y, stmts)

        case .depthwise(let kh, let kw, let top, let left):
            let tile: TileBody? = !FusedRows.usesDepthwiseTiles(step) ? nil : { rows, pixels, c in
                rows.depthwiseTile(n, kh: kh, kw: kw, top: top, left: left, y: yv, pixels: pixels, c: c,
                                   store: { x, value in .store(ob, obase + x * .int(cout) + c, value) })
            }
            out += guarded(o, y, columns(tile: tile))

        case .dense(let kh, let kw, let top, let left):
            let input = n.inputs[0], cin = schedule.channels[input.index]
            let w = packed(n.inputs[1], k: kh * kw * cin, n: cout, prologue: &prologue, context: &context)
            let bias: KExpr = n.inputs.count > 2 ? .load(argumentBuffer(n.inputs[2]), cv) : .float(0)
            let dy = fresh("dy"), dx = fresh("dx"), yy = fresh("yy")
            let (ib, ibase) = row(input, .ivar(yy))
            let xlo = KExpr.iop(.max, 0, .int(left) - .ivar(dx))
            let xhi = KExpr.iop(.min, .int(width), .int(width + left) - .ivar(dx))
            out += guarded(o, y, pixels(bias) + [
                .loop(dy, .int(kh), parallel: false, [
                    .letInt(yy, yv - .int(top) + .ivar(dy)),
                    .ifThen(.and(.ige(.ivar(yy), 0), .ilt(.ivar(yy), .int(schedule.rows))), [
                        .loop(dx, .int(kw), parallel: false, [
                            .matmul(TileMatmul(m: xhi - xlo, n: .int(cout), k: .int(cin),
                                               a: ib, aOffset: ibase + (xlo + .ivar(dx) - .int(left)) * .int(cin), aRowStride: .int(cin),
                                               b: w, bOffset: (.ivar(dy) * .int(kw) + .ivar(dx)) * .int(cin * context.panelWidth), ldb: .int(cout),
                                               c: ob, cOffset: obase + xlo * .int(cout), ldc: .int(cout), accumulate: true,
                                               bPanels: context.panels(depth: kh * kw * cin))),
                        ]),
                    ]),
                ]),
            ])

        case .pixelReduce:
            throw CodegenError("a reduction over pixels is emitted by the fused-rows lowering, not per node")

        case .channelReduce:
            out += guarded(o, y, channelReduce(n, y: yv, x: x))

        case .normalization:
            out += guarded(o, y, try normalization(n, y: yv, x: x, c: c, prologue: &prologue, context: &context))

        case .channelCopy:
            if n.op == .split {
                let input = n.inputs[0], cin = schedule.channels[input.index]
                var offset = 0
                for part in n.outputs {
                    let ch = schedule.channels[part.index]
                    let py = fresh("y")
                    let (pb, pbase) = row(part, .ivar(py))
                    let (ib, ibase) = row(input, .ivar(py))
                    out += guarded(part, py, [.loop(x, .int(width), parallel: false, [
                        .loop(c, .int(ch), parallel: false, [.store(pb, pbase + xv * .int(ch) + cv, .load(ib, ibase + xv * .int(cin) + .int(offset) + cv))]),
                    ])])
                    offset += ch
                }
            } else {
                var stmts: [KStmt] = []
                var offset = 0
                for part in n.inputs {
                    let ch = schedule.channels[part.index]
                    let (pb, pbase) = row(part, yv)
                    stmts.append(.loop(x, .int(width), parallel: false, [
                        .loop(c, .int(ch), parallel: false, [.store(ob, obase + xv * .int(cout) + .int(offset) + cv, .load(pb, pbase + xv * .int(ch) + cv))]),
                    ]))
                    offset += ch
                }
                out += guarded(o, y, stmts)
            }
        }
    }
}
