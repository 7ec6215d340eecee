import KilnIR

extension LowerContext {
    mutating func lowerNormalization(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) throws {
        let a = node.attributes, shape = inT[0].shape
        let (x, out) = (ins[0], outs[0])
        switch node.op {
        case .layer_norm, .rms_norm:
            let c = shape.last!, rows = inT[0].elementCount / c
            let eps = Float(a.float("eps")), rms = node.op == .rms_norm
            let at: KExpr = v("r") * .int(c) + v("j")
            let centered: KExpr = rms ? .load(x, at) : fsub(.load(x, at), .fvar("mean"))
            var value: KExpr = fmul(centered, .fvar("inv"))
            if ins.count > 1 { value = fmul(value, .load(ins[1], v("j"))) }
            if ins.count > 2 { value = fadd(value, .load(ins[2], v("j"))) }
            // Row sums through lane partials (`LaneSum`), with the row's element `j` at `at`.
            let partial = scratch("\(node.op.rawValue).partial", elements: LaneSum.lanes)
            let rowSum = { (target: String, value: KExpr) in
                LaneSum.statements(partial: partial, into: target, count: c, l: "l", block: "blk", tail: "tail") {
                    value.substituting("j", with: $0)
                }
            }
            var body: [KStmt] = [.variable("mean", .float(0))]
            if !rms {
                body += rowSum("mean", .load(x, at)) + [.assign("mean", fdiv(.fvar("mean"), .float(Float(c))))]
            }
            body += [.variable("ss", .float(0))] + rowSum("ss", fmul(centered, centered)) + [
                .variable("inv", .call(.rsqrt, fadd(fdiv(.fvar("ss"), .float(Float(c))), .float(eps)))),
                .loop("j", .int(c), parallel: false, [.store(out, at, value)]),
            ]
            kernel(node.op.rawValue, parallel: rows, [.loop("r", .int(rows), parallel: true, body)])
        case .batch_norm:
            let c = shape.last!, rows = inT[0].elementCount / c
            var mean = ins[3], variance = ins[4]
            if a.bool("training") {
                // Batch statistics per channel (biased variance), then the same normalization.
                mean = temp("bn.mean", elements: c)
                variance = temp("bn.var", elements: c)
                kernel("bn_stats", parallel: c, [.loop("ch", .int(c), parallel: true, [
                    .variable("s", .float(0)),
                    .loop("r", .int(rows), parallel: false, [.assign("s", fadd(.fvar("s"), .load(x, v("r") * .int(c) + v("ch"))))]),
                    .variable("m", fdiv(.fvar("s"), .float(Float(rows)))),
                    .variable("q", .float(0)),
                    .loop("r", .int(rows), parallel: false, [
                        .variable("d", fsub(.load(x, v("r") * .int(c) + v("ch")), .fvar("m"))),
                        .assign("q", fadd(.fvar("q"), fmul(.fvar("d"), .fvar("d")))),
                    ]),
                    .store(mean, v("ch"), .fvar("m")),
                    .store(variance, v("ch"), fdiv(.fvar("q"), .float(Float(rows)))),
                ])])
            }
            let eps = Float(a.float("eps"))
            let scale: KExpr = fmul(.load(ins[1], v("j")), .call(.rsqrt, fadd(.load(variance, v("j")), .float(eps))))
            kernel("batch_norm", parallel: rows, [.loop("r", .int(rows), parallel: true, [
                .loop("j", .int(c), parallel: false, [
                    .store(out, v("r") * .int(c) + v("j"), fadd(fmul(fsub(.load(x, v("r") * .int(c) + v("j")), .load(mean, v("j"))), scale), .load(ins[2], v("j")))),
                ]),
            ])])
        default: // softmax, log_softmax along an axis: lines of `len` elements at stride `inner`.
            let axis = try normalizeAxis(a.int("axis"), rank: shape.count, op: node.op.rawValue)
            let len = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), lines = inT[0].elementCount / len
            let at: KExpr = (v("l") / .int(inner) * .int(len) + v("k")) * .int(inner) + v("l") % .int(inner)
            let shifted: KExpr = fsub(.load(x, at), .fvar("mx"))
            let value: KExpr = node.op == .softmax ? fdiv(.call(.exp, shifted), .fvar("sum")) : fsub(shifted, .call(.log, .fvar("sum")))
            var body: [KStmt] = [.variable("mx", .float(-.infinity)), .variable("sum", .float(0))]
            if inner == 1 {
                // Along the last axis the line is contiguous: max and sum through lane partials.
                let partial = scratch("\(node.op.rawValue).partial", elements: LaneSum.lanes)
                let element = { (k: KExpr) in at.substituting("k", with: k) }
                body += LaneSum.statements(partial: partial, into: "mx", count: len, l: "lm", block: "bm", tail: "tm",
                                           combine: .max, start: -.infinity) { .load(x, element($0)) }
                body += LaneSum.statements(partial: partial, into: "sum", count: len, l: "ls", block: "bs", tail: "ts") {
                    .call(.exp, shifted.substituting("k", with: $0))
                }
            } else {
                body += [.loop("k", .int(len), parallel: false, [.assign("mx", .fop(.max, .fvar("mx"), .load(x, at)))]),
                         .loop("k", .int(len), parallel: false, [.assign("sum", fadd(.fvar("sum"), .call(.exp, shifted)))])]
            }
            body.append(.loop("k", .int(len), parallel: false, [.store(out, at, value)]))
            kernel(node.op.rawValue, parallel: lines, [.loop("l", .int(lines), parallel: true, body)])
        }
    }
}
