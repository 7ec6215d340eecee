import KilnIR

/// Row code for normalizations inside a row-scheduled block.
extension FusedRows {
    mutating func normalization(_ n: Node, y: KExpr, x: String, c: String, prologue: inout [KStmt],
                                context: inout LowerContext) throws -> [KStmt] {
        let o = n.outputs[0], input = n.inputs[0]
        let ch = schedule.channels[o.index]
        let (ob, obase) = row(o, y)
        let (ib, ibase) = row(input, y)
        let (xv, cv) = (KExpr.ivar(x), KExpr.ivar(c))
        let at = { (b: KExpr) in b + xv * .int(ch) + cv }
        switch n.op {
        case .batch_norm:
            return columnLoops(channels: ch, y: y, body: { x, c, value in .store(ob, obase + x * .int(ch) + c, value) },
                               value: { rows, x, c in rows.expression(of: n, y: y, x: x, c: c) })
        case .layer_norm, .rms_norm:
            let partial = context.scratch("\(body.name(of: o)).partial", elements: LaneSum.lanes)
            let isLayer = n.op == .layer_norm
            let gamma: KExpr = n.inputs.count > 1 ? .load(argumentBuffer(n.inputs[1]), cv) : .float(1)
            let beta: KExpr = isLayer && n.inputs.count > 2 ? .load(argumentBuffer(n.inputs[2]), cv) : .float(0)
            let mean = fresh("mean"), rstd = fresh("rstd")
            let centered = { (e: KExpr) -> KExpr in isLayer ? .fop(.sub, e, .fvar(mean)) : e }
            var stmts: [KStmt] = [.variable(mean, .float(0))]
            if isLayer {
                stmts += channelSum(partial, into: mean, ch: ch, x: x) { .load(ib, ibase + $0) }
                stmts.append(.assign(mean, .fop(.div, .fvar(mean), .float(Float(ch)))))
            }
            stmts.append(.variable(rstd, .float(0)))
            stmts += channelSum(partial, into: rstd, ch: ch, x: x) { index in
                let d = centered(.load(ib, ibase + index))
                return .fop(.mul, d, d)
            }
            let eps = Float(n.attributes.float("eps"))
            stmts.append(.assign(rstd, .fop(.div, .float(1), .call(.sqrt, .fop(.add, .fop(.div, .fvar(rstd), .float(Float(ch))), .float(eps))))))
            stmts.append(.loop(c, .int(ch), parallel: false, [
                .store(ob, at(obase), .fop(.add, .fop(.mul, .fop(.mul, centered(.load(ib, at(ibase))), .fvar(rstd)), gamma), beta)),
            ]))
            return [.loop(x, .int(width), parallel: false, stmts)]
        default:
            throw CodegenError("fused rows: \(n.op) is not a normalization")
        }
    }

    /// `target += sum over channels of value(x * ch + channel)` through lane partial sums.
    private mutating func channelSum(_ partial: Int, into target: String, ch: Int, x: String,
                                     _ value: @escaping (KExpr) -> KExpr) -> [KStmt] {
        let pixel = KExpr.ivar(x) * .int(ch)
        return LaneSum.statements(partial: partial, into: target, count: ch, l: fresh("l"), block: fresh("blk"), tail: fresh("tail")) {
            value(pixel + $0)
        }
    }
}
