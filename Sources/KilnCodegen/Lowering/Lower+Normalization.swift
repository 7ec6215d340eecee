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
            var body: [KStmt] = [.variable("mean", .float(0))]
            if !rms {
                body += [.loop("j", .int(c), parallel: false, [.assign("mean", fadd(.fvar("mean"), .load(x, at)))]),
                         .assign("mean", fdiv(.fvar("mean"), .float(Float(c))))]
            }
            body += [
                .variable("ss", .float(0)),
                .loop("j", .int(c), parallel: false, [.assign("ss", fadd(.fvar("ss"), fmul(centered, centered)))]),
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
            kernel(node.op.rawValue, parallel: lines, [.loop("l", .int(lines), parallel: true, [
                .variable("mx", .float(-.infinity)),
                .loop("k", .int(len), parallel: false, [.assign("mx", .fop(.max, .fvar("mx"), .load(x, at)))]),
                .variable("sum", .float(0)),
                .loop("k", .int(len), parallel: false, [.assign("sum", fadd(.fvar("sum"), .call(.exp, shifted)))]),
                .loop("k", .int(len), parallel: false, [.store(out, at, value)]),
            ])])
        }
    }

    /// Reductions: one output element per parallel iteration; the reduced elements are
    /// enumerated by a flat index decomposed over the reduced dimensions.
    mutating func lowerReduction(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) throws {
        let shape = inT[0].shape, rank = shape.count
        let axes = Set(try node.attributes.ints("axes").map { try normalizeAxis($0, rank: rank, op: node.op.rawValue) })
        let st = Self.strides(shape)
        let kept = (0..<rank).filter { !axes.contains($0) }, reduced = (0..<rank).filter { axes.contains($0) }
        let keptShape = kept.map { shape[$0] }, redShape = reduced.map { shape[$0] }
        let n = max(keptShape.reduce(1, *), 1), count = max(redShape.reduce(1, *), 1)
        func offset(_ flat: String, _ dims: [Int], _ sizes: [Int]) -> KExpr {
            let ss = Self.strides(sizes)
            var e: KExpr = 0
            for (i, d) in dims.enumerated() {
                let idx: KExpr = (v(flat) / .int(ss[i])) % .int(sizes[i])
                e = e + idx * .int(st[d])
            }
            return e
        }
        let isMax = node.op == .reduce_max
        if let lastReduced = reduced.last, let firstKept = kept.first, lastReduced < firstKept {
            leadingReduction(node.op, ins[0], outs[0], count: count, columns: n)
            return
        }
        let src: KExpr = .load(ins[0], offset("o", kept, keptShape) + offset("q", reduced, redShape))
        let result: KExpr = node.op == .reduce_mean ? fdiv(.fvar("acc"), .float(Float(count))) : .fvar("acc")
        kernel(node.op.rawValue, parallel: n, [.loop("o", .int(n), parallel: true, [
            .variable("acc", .float(isMax ? -.infinity : 0)),
            .loop("q", .int(count), parallel: false, [.assign("acc", isMax ? .fop(.max, .fvar("acc"), src) : fadd(.fvar("acc"), src))]),
            .store(outs[0], v("o"), result),
        ])])
    }

    /// A reduction over leading axes, `out[o] = reduce_q in[q * columns + o]` (bias and scale
    /// gradients: sums over every pixel or token). Reading in[q, o] for a fixed o at stride
    /// `columns` touched a new page per element and took 42 ms for the FFN's 4096 x 2048 bias
    /// gradient; instead each task sweeps the rows of a block of columns, accumulating into the
    /// output block in order of q (the same order, so the same sums, as one output at a time).
    mutating func leadingReduction(_ op: OpKind, _ input: Int, _ output: Int, count: Int, columns: Int) {
        // ~8 tasks, each reading at least 64 adjacent floats per row (whole cache lines).
        let block = max(64, (columns + 8 * 16 - 1) / (8 * 16) * 16)
        let blocks = (columns + block - 1) / block
        let o0 = v("o0"), len = KExpr.iop(.min, .int(block), .int(columns) - o0)
        let at = o0 + v("j")
        let start: Float = op == .reduce_max ? -.infinity : 0
        let acc = KExpr.load(output, at), x = KExpr.load(input, v("q") * .int(columns) + at)
        var body: [KStmt] = [
            .letInt("o0", v("blk") * .int(block)),
            .loop("j", len, parallel: false, [.store(output, at, .float(start))]),
            .loop("q", .int(count), parallel: false, [
                .loop("j", len, parallel: false, [.store(output, at, op == .reduce_max ? .fop(.max, acc, x) : fadd(acc, x))]),
            ]),
        ]
        if op == .reduce_mean {
            body.append(.loop("j", len, parallel: false, [.store(output, at, fdiv(acc, .float(Float(count))))]))
        }
        kernel(op.rawValue, parallel: blocks, [.loop("blk", .int(blocks), parallel: true, body)])
    }
}
