import KilnIR

extension LowerContext {
    mutating func lowerLayout(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) throws {
        let a = node.attributes, shape = inT[0].shape, rank = shape.count
        switch node.op {
        case .permute:
            let perm = a.ints("perm"), os = outT[0].shape, ost = Self.strides(os), ist = Self.strides(shape)
            if let t = Self.batchedTranspose(perm: perm, shape: shape) {
                batchedTranspose(ins[0], outs[0], batch: t.batch, rows: t.rows, cols: t.cols)
                return
            }
            var src: KExpr = 0
            for d in 0..<rank { src = src + ((v("i") / .int(ost[d])) % .int(os[d])) * .int(ist[perm[d]]) }
            let n = outT[0].elementCount
            kernel("permute", parallel: n, [.loop("i", .int(n), parallel: true, [.store(outs[0], v("i"), .load(ins[0], src))])])
        case .slice:
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "slice")
            let count = outT[0].shape[axis]
            copyBlock(from: ins[0], fromShape: shape, to: outs[0], toShape: outT[0].shape, axis: axis, count: count,
                      srcStart: a.int("start"), srcStep: a.int("step"), dstStart: 0)
        case .concat:
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "concat")
            var offset = 0
            for (b, t) in zip(ins, inT) {
                copyBlock(from: b, fromShape: t.shape, to: outs[0], toShape: outT[0].shape, axis: axis, count: t.shape[axis],
                          srcStart: 0, srcStep: 1, dstStart: offset)
                offset += t.shape[axis]
            }
        case .split:
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "split")
            var offset = 0
            for (b, t) in zip(outs, outT) {
                copyBlock(from: ins[0], fromShape: shape, to: b, toShape: t.shape, axis: axis, count: t.shape[axis],
                          srcStart: offset, srcStep: 1, dstStart: 0)
                offset += t.shape[axis]
            }
        default: // cumsum along an axis: lines at stride `inner`, forward or reverse, inclusive or exclusive.
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "cumsum")
            let len = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), lines = inT[0].elementCount / len
            let k: KExpr = a.bool("reverse") ? .int(len - 1) - v("s") : v("s")
            let at: KExpr = (v("l") / .int(inner) * .int(len) + k) * .int(inner) + v("l") % .int(inner)
            let body: [KStmt] = a.bool("exclusive")
                ? [.store(outs[0], at, .fvar("acc")), .assign("acc", fadd(.fvar("acc"), .load(ins[0], at)))]
                : [.assign("acc", fadd(.fvar("acc"), .load(ins[0], at))), .store(outs[0], at, .fvar("acc"))]
            kernel("cumsum", parallel: lines, [.loop("l", .int(lines), parallel: true, [
                .variable("acc", .float(0)),
                .loop("s", .int(len), parallel: false, body),
            ])])
        }
    }

    /// Copies `count` slabs along `axis`: dst[.., dstStart + k, ..] = src[.., srcStart + k*srcStep, ..].
    mutating func copyBlock(from src: Int, fromShape: [Int], to dst: Int, toShape: [Int], axis: Int, count: Int,
                            srcStart: Int, srcStep: Int, dstStart: Int) {
        let outer = fromShape[..<axis].reduce(1, *), inner = fromShape[(axis + 1)...].reduce(1, *)
        let srcLen = fromShape[axis], dstLen = toShape[axis]
        let rows = outer * count
        let o: KExpr = v("r") / .int(count), k: KExpr = v("r") % .int(count)
        kernel("copy_slab", parallel: rows, [.loop("r", .int(rows), parallel: true, [
            .letInt("src", (o * .int(srcLen) + .int(srcStart) + k * .int(srcStep)) * .int(inner)),
            .letInt("dst", (o * .int(dstLen) + .int(dstStart) + k) * .int(inner)),
            .loop("e", .int(inner), parallel: false, [.store(dst, v("dst") + v("e"), .load(src, v("src") + v("e")))]),
        ])])
    }
}
