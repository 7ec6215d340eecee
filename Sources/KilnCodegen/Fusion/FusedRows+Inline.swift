import KilnIR
import KilnPasses

/// Epilogue and prologue fusion inside a row-scheduled block: a pointwise node, an inference
/// batch_norm or a depthwise convolution whose only reader works on the same row (another
/// pointwise node or batch_norm) is not materialized; its reader evaluates it as part of its
/// own expression. So `matmul -> batch_norm -> relu6` costs one pass over the row after the
/// matmul, and `depthwise -> batch_norm -> relu6` one pass in all.
extension FusedRows {
    /// Decides which body values are evaluated inline (never stored).
    static func inlinedValues(body: Function, schedule s: RowSchedule, excluded: Set<ValueID>) -> Set<ValueID> {
        let users = body.users()
        var chosen = Set<ValueID>()
        func readsSameRow(_ i: Int) -> Bool {
            s.steps[i] == .pointwise || (s.steps[i] == .normalization && body.nodes[i].op == .batch_norm)
        }
        for (i, n) in body.nodes.enumerated() where n.outputs.count == 1 {
            let o = n.outputs[0]
            guard !body.results.contains(o), !excluded.contains(o), users[o.index].count == 1 else { continue }
            var producerKind = readsSameRow(i)
            if case .depthwise = s.steps[i] { producerKind = true }
            let reader = users[o.index][0]
            guard producerKind, readsSameRow(reader), !excluded.contains(body.nodes[reader].outputs[0]),
                  s.channels[o.index] == s.channels[body.nodes[reader].outputs[0].index] else { continue }
            chosen.insert(o)
        }
        return chosen
    }

    /// Prepares what inline and materialized batch_norms read: per-channel scale and shift,
    /// computed once per call in the prologue.
    mutating func prepareBatchNorm(_ n: Node, prologue: inout [KStmt], context: inout LowerContext) {
        let o = n.outputs[0], ch = schedule.channels[o.index]
        let table = context.scratch("\(body.name(of: o)).affine", elements: 2 * ch)
        let (g, bt, mean, varb) = (argumentBuffer(n.inputs[1]), argumentBuffer(n.inputs[2]), argumentBuffer(n.inputs[3]), argumentBuffer(n.inputs[4]))
        let k = fresh("k")
        let kv = KExpr.ivar(k)
        let eps = Float(n.attributes.float("eps"))
        let scale = KExpr.fop(.div, .load(g, kv), .call(.sqrt, .fop(.add, .load(varb, kv), .float(eps))))
        prologue.append(.loop(k, .int(ch), parallel: false, [
            .store(table, kv, scale),
            .store(table, kv + .int(ch), .fop(.sub, .load(bt, kv), .fop(.mul, .load(mean, kv), .load(table, kv)))),
        ]))
        batchNormTables[o.index] = table
    }

    /// The value of node `n`'s (single) output at pixel x, channel c of row y, for the node
    /// kinds that can be inlined: pointwise, batch_norm, depthwise.
    func expression(of n: Node, y: KExpr, x: KExpr, c: KExpr) -> KExpr {
        let o = n.outputs[0]
        switch schedule.steps[body.nodes.firstIndex(of: n)!] {
        case .depthwise(let kh, let kw, let top, let left):
            return depthwiseExpression(n, kh: kh, kw: kw, top: top, left: left, y: y, x: x, c: c)
        case .normalization:
            let table = batchNormTables[o.index]!
            let ch = schedule.channels[o.index]
            return .fop(.add, .fop(.mul, operand(n.inputs[0], y: y, x: x, c: c), .load(table, c)), .load(table, c + .int(ch)))
        default:
            if n.inputs.count == 1 {
                var fn = MathFn(rawValue: n.op.rawValue)!
                if n.op == .gelu && n.attributes.symbol("approximate") == "tanh" { fn = .gelu_tanh }
                return .call(fn, operand(n.inputs[0], y: y, x: x, c: c))
            }
            return .fop(FloatOp(rawValue: n.op.rawValue)!, operand(n.inputs[0], y: y, x: x, c: c), operand(n.inputs[1], y: y, x: x, c: c))
        }
    }

    /// All k x k taps of a depthwise convolution at one pixel, as one expression, so the channel
    /// loop around it is innermost, vectorizes and keeps the sum in registers. Taps outside the
    /// image read a clamped (valid) address and use a zero weight. The taps sum into a few
    /// chains added at the end: one chain of k*k dependent FMAs would make the loop wait on FMA
    /// latency (LLVM may not reassociate fp32 sums itself).
    /// Independent FMA chains per pixel: one per kernel row for small kernels (their interior
    /// columns run 4 pixels per channel vector, see `depthwiseUnroll`), else 8, enough for 2 FMA
    /// pipes x 4 cycles of latency.
    static func depthwiseChains(kh: Int, kw: Int) -> Int { kh * kw > smallKernelTaps ? 8 : kh }

    func depthwiseExpression(_ n: Node, kh: Int, kw: Int, top: Int, left: Int, y: KExpr, x: KExpr, c: KExpr) -> KExpr {
        let input = n.inputs[0], w = argumentBuffer(n.inputs[1])
        let ch = schedule.channels[n.outputs[0].index]
        var terms: [KExpr] = []
        for dy in 0..<kh {
            let yy = y - .int(top) + .int(dy)
            let (ib, ibase) = row(input, interiorRow ? yy : .iop(.min, .iop(.max, yy, 0), .int(schedule.rows - 1)))
            let rowValid: KCond? = interiorRow ? nil : .and(.ige(yy, 0), .ilt(yy, .int(schedule.rows)))
            for dx in 0..<kw {
                let xx = x - .int(left) + .int(dx)
                // conv2d_backward_input (the transposed depthwise convolution) reads the kernel flipped.
                let tap = n.op == .conv2d_backward_input ? (kh - 1 - dy) * kw + (kw - 1 - dx) : dy * kw + dx
                let weight = KExpr.load(w, .int(tap * ch) + c)
                let term: KExpr
                if interiorOnly {
                    term = .fop(.mul, .load(ib, ibase + xx * .int(ch) + c), rowValid.map { .select($0, weight, .float(0)) } ?? weight)
                } else {
                    let col = KExpr.iop(.min, .iop(.max, xx, 0), .int(width - 1)) * .int(ch)
                    let colValid = KCond.and(.ige(xx, 0), .ilt(xx, .int(width)))
                    let valid = rowValid.map { KCond.and($0, colValid) } ?? colValid
                    term = .fop(.mul, .load(ib, ibase + col + c), .select(valid, weight, .float(0)))
                }
                terms.append(term)
            }
        }
        // Taps go round-robin into `depthwiseChains` sums, added as a tree at the end.
        let chains = FusedRows.depthwiseChains(kh: kh, kw: kw)
        var rowSums: [KExpr] = []
        for k in 0..<min(chains, terms.count) {
            let chain = stride(from: k, to: terms.count, by: chains).map { terms[$0] }
            rowSums.append(chain.dropFirst().reduce(chain[0]) { .fop(.add, $0, $1) })
        }
        while rowSums.count > 1 {
            rowSums = stride(from: 0, to: rowSums.count, by: 2).map { i in
                i + 1 < rowSums.count ? .fop(.add, rowSums[i], rowSums[i + 1]) : rowSums[i]
            }
        }
        let taps = rowSums.first ?? .float(0)
        return n.inputs.count > 2 ? .fop(.add, .load(argumentBuffer(n.inputs[2]), c), taps) : taps
    }
}
