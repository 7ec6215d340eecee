import KilnIR

/// reduce_sum, reduce_mean and reduce_max. Three shapes of reduction get their own loops,
/// because the generic one (one output per parallel iteration, a serial chain of scalar adds
/// over its elements) is slow for each of them:
/// - over trailing axes (a sum per row): the row's contiguous elements through lane partials;
/// - over every axis (a loss): chunks in parallel, then their partials in order;
/// - over leading axes (bias and scale gradients: a sum per channel over every pixel or
///   token): blocks of columns swept row by row, and when those blocks are too few to keep
///   the threads busy, bands of rows too, whose partial rows are then added in order.
/// Every split is fixed by the shape, not by the thread count, so results do not depend on it.
extension LowerContext {
    mutating func lowerReduction(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) throws {
        let shape = inT[0].shape, rank = shape.count
        let axes = Set(try node.attributes.ints("axes").map { try normalizeAxis($0, rank: rank, op: node.op.rawValue) })
        let st = Self.strides(shape)
        let kept = (0..<rank).filter { !axes.contains($0) }, reduced = (0..<rank).filter { axes.contains($0) }
        let keptShape = kept.map { shape[$0] }, redShape = reduced.map { shape[$0] }
        let n = max(keptShape.reduce(1, *), 1), count = max(redShape.reduce(1, *), 1)
        if kept.isEmpty {
            wholeReduction(node.op, ins[0], outs[0], count: count)
            return
        }
        if reduced.isEmpty || reduced == Array((rank - reduced.count)..<rank) {
            trailingReduction(node.op, ins[0], outs[0], rows: n, count: count)
            return
        }
        if let lastReduced = reduced.last, let firstKept = kept.first, lastReduced < firstKept {
            leadingReduction(node.op, ins[0], outs[0], count: count, columns: n)
            return
        }
        func offset(_ flat: String, _ dims: [Int], _ sizes: [Int]) -> KExpr {
            let ss = Self.strides(sizes)
            var e: KExpr = 0
            for (i, d) in dims.enumerated() {
                let idx: KExpr = (v(flat) / .int(ss[i])) % .int(sizes[i])
                e = e + idx * .int(st[d])
            }
            return e
        }
        let src: KExpr = .load(ins[0], offset("o", kept, keptShape) + offset("q", reduced, redShape))
        kernel(node.op.rawValue, parallel: n, [.loop("o", .int(n), parallel: true, [
            .variable("acc", .float(Self.reductionStart(node.op))),
            .loop("q", .int(count), parallel: false, [.assign("acc", .fop(Self.combine(node.op), .fvar("acc"), src))]),
            .store(outs[0], v("o"), Self.finish(node.op, .fvar("acc"), count: count)),
        ])])
    }

    static func combine(_ op: OpKind) -> FloatOp { op == .reduce_max ? .max : .add }
    static func reductionStart(_ op: OpKind) -> Float { op == .reduce_max ? -.infinity : 0 }
    /// The mean divides the sum by the element count; sum and max are done.
    static func finish(_ op: OpKind, _ acc: KExpr, count: Int) -> KExpr {
        op == .reduce_mean ? fdiv(acc, .float(Float(count))) : acc
    }

    /// `out[o] = reduce_q in[o * count + q]`: each row's elements through lane partials.
    mutating func trailingReduction(_ op: OpKind, _ input: Int, _ output: Int, rows: Int, count: Int) {
        let partial = scratch("\(op.rawValue).partial", elements: LaneSum.lanes)
        let start = Self.reductionStart(op)
        kernel(op.rawValue, parallel: rows, [.loop("o", .int(rows), parallel: true, [.variable("acc", .float(start))]
            + LaneSum.statements(partial: partial, into: "acc", count: count, l: "l", block: "blk", tail: "tail",
                                 combine: Self.combine(op), start: start) { .load(input, v("o") * .int(count) + $0) }
            + [.store(output, v("o"), Self.finish(op, .fvar("acc"), count: count))])])
    }

    /// Elements per chunk of a whole reduction, and per band of a leading one (rows times
    /// columns): enough that a task outweighs taking it, few enough to spread over the threads.
    static let reductionChunk = 1 << 15

    /// `out[0] = reduce of all count elements`: chunks of `reductionChunk` (a multiple of the
    /// lanes) in parallel, each through lane partials, then the chunks' results in order
    /// (a second kernel). A reduction within one chunk is a single kernel.
    mutating func wholeReduction(_ op: OpKind, _ input: Int, _ output: Int, count: Int) {
        let chunk = min(Self.reductionChunk, (count + LaneSum.lanes - 1) / LaneSum.lanes * LaneSum.lanes)
        let chunks = (count + chunk - 1) / chunk, last = count - (chunks - 1) * chunk
        if chunks == 1 {
            // One chunk: a single row, one kernel, no partials to combine.
            trailingReduction(op, input, output, rows: 1, count: count)
            return
        }
        let partial = scratch("\(op.rawValue).partial", elements: LaneSum.lanes)
        let start = Self.reductionStart(op)
        let sums = temp("\(op.rawValue).chunks", elements: chunks)
        let sweep = { (length: Int) -> [KStmt] in
            [.variable("acc", .float(start))]
                + LaneSum.statements(partial: partial, into: "acc", count: length, l: "l", block: "blk", tail: "tail",
                                     combine: Self.combine(op), start: start) { .load(input, v("p") * .int(chunk) + $0) }
                + [.store(sums, v("p"), .fvar("acc"))]
        }
        var body: [KStmt] = [.ifThen(.ilt(v("p"), .int(chunks - 1)), sweep(chunk))]
        body.append(.ifThen(.ige(v("p"), .int(chunks - 1)), sweep(last)))
        kernel(op.rawValue + "_chunks", parallel: chunks, [.loop("p", .int(chunks), parallel: true, body)])
        kernel(op.rawValue, parallel: 1, [.loop("o", .int(1), parallel: true, [
            .variable("acc", .float(start)),
            .loop("p", .int(chunks), parallel: false, [.assign("acc", .fop(Self.combine(op), .fvar("acc"), .load(sums, v("p"))))]),
            .store(output, 0, Self.finish(op, .fvar("acc"), count: count)),
        ])])
    }

    /// A reduction over leading axes, `out[o] = reduce_q in[q * columns + o]` (bias and scale
    /// gradients: sums over every pixel or token). Reading in[q, o] for a fixed o at stride
    /// `columns` touched a new page per element and took 42 ms for the FFN's 4096 x 2048 bias
    /// gradient; instead each task sweeps the rows of a block of columns, accumulating into its
    /// output block in order of q. A block of 64 columns or more reads whole cache lines, but
    /// 24 or 144 channels (MobileNetV2) make one to three blocks, which left a thread idle or
    /// the whole sum on one: then the rows are cut into bands of about `reductionChunk`
    /// elements, each band's sums go to a row of partials, and a second kernel adds those rows
    /// in band order.
    mutating func leadingReduction(_ op: OpKind, _ input: Int, _ output: Int, count: Int, columns: Int) {
        // ~8 tasks, each reading at least 64 adjacent floats per row (whole cache lines).
        let block = max(64, (columns + 8 * 16 - 1) / (8 * 16) * 16)
        let blocks = (columns + block - 1) / block
        let bandRows = max(Self.reductionChunk / max(min(block, columns), 1), 1)
        let bands = blocks >= 8 ? 1 : (count + bandRows - 1) / bandRows
        let start = Self.reductionStart(op), combine = Self.combine(op)
        let o0 = v("o0"), len = KExpr.iop(.min, .int(block), .int(columns) - o0)
        let at = o0 + v("j")
        if bands <= 1 {
            let acc = KExpr.load(output, at), x = KExpr.load(input, v("q") * .int(columns) + at)
            kernel(op.rawValue, parallel: blocks, [.loop("blk", .int(blocks), parallel: true, [
                .letInt("o0", v("blk") * .int(block)),
                .loop("j", len, parallel: false, [.store(output, at, .float(start))]),
                .loop("q", .int(count), parallel: false, [.loop("j", len, parallel: false, [.store(output, at, .fop(combine, acc, x))])]),
                .loop("j", len, parallel: false, [.store(output, at, Self.finish(op, acc, count: count))]),
            ])])
            return
        }
        // Band b covers rows [b * bandRows, min((b + 1) * bandRows, count)) and writes partials row b.
        let partials = temp("\(op.rawValue).bands", elements: bands * columns)
        let row = v("b") * .int(columns) + at
        let acc = KExpr.load(partials, row), x = KExpr.load(input, (v("q0") + v("q")) * .int(columns) + at)
        let rowsInBand = KExpr.iop(.min, .int(bandRows), .int(count) - v("q0"))
        kernel(op.rawValue + "_bands", parallel: bands * blocks, [.loop("t", .int(bands * blocks), parallel: true, [
            .letInt("b", v("t") / .int(blocks)),
            .letInt("o0", (v("t") % .int(blocks)) * .int(block)),
            .letInt("q0", v("b") * .int(bandRows)),
            .loop("j", len, parallel: false, [.store(partials, row, .float(start))]),
            .loop("q", rowsInBand, parallel: false, [.loop("j", len, parallel: false, [.store(partials, row, .fop(combine, acc, x))])]),
        ])])
        let out = KExpr.load(output, v("c"))
        kernel(op.rawValue, parallel: 1, [.loop("o", .int(1), parallel: true, [
            .loop("c", .int(columns), parallel: false, [.store(output, v("c"), .load(partials, v("c")))]),
            .loop("b", .int(bands - 1), parallel: false, [
                .loop("c", .int(columns), parallel: false, [
                    .store(output, v("c"), .fop(combine, out, .load(partials, (v("b") + 1) * .int(columns) + v("c")))),
                ]),
            ]),
            .loop("c", .int(columns), parallel: false, [.store(output, v("c"), Self.finish(op, out, count: count))]),
        ])])
    }
}
