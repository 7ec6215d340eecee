import KilnIR

extension LowerContext {
    mutating func lowerContraction(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) {
        switch node.op {
        case .linear:
            let k = inT[1].shape[0], n = inT[1].shape[1], m = inT[0].elementCount / k
            if ins.count > 2 {
                // C starts as the bias in every row; the GEMM accumulates onto it.
                kernel("bias", parallel: m, [.loop("r", .int(m), parallel: true, [
                    .loop("j", .int(n), parallel: false, [.store(outs[0], v("r") * .int(n) + v("j"), .load(ins[2], v("j")))]),
                ])])
            }
            steps.append(.gemm(GemmCall(m: m, n: n, k: k, a: ins[0], b: ins[1], c: outs[0], aOffset: 0, bOffset: 0, cOffset: 0, accumulate: ins.count > 2)))
        case .matmul:
            let sa = inT[0].shape, sb = inT[1].shape, so = outT[0].shape
            let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
            let batchShape = Array(so.dropLast(2))
            let batch = batchShape.reduce(1, *)
            // One GEMM per batch element, at offsets from broadcast batch strides.
            let ta = Self.batchStrides(Array(sa.dropLast(2)), batchShape), tb = Self.batchStrides(Array(sb.dropLast(2)), batchShape)
            let bs = Self.strides(batchShape)
            for bi in 0..<batch {
                var oa = 0, ob = 0
                for d in 0..<batchShape.count { let idx = (bi / bs[d]) % batchShape[d]; oa += idx * ta[d]; ob += idx * tb[d] }
                steps.append(.gemm(GemmCall(m: m, n: n, k: k, a: ins[0], b: ins[1], c: outs[0],
                                            aOffset: oa * m * k, bOffset: ob * k * n, cOffset: bi * m * n, accumulate: false)))
            }
        default: // embedding: ids are clamped here; the executor rejects out-of-range ids before running.
            let vocab = inT[0].shape[0], d = inT[0].shape[1], rows = inT[1].elementCount
            idLimits[ins[1]] = min(idLimits[ins[1]] ?? vocab, vocab)
            let id: KExpr = .iop(.min, .iop(.max, .loadInt(ins[1], v("r")), 0), .int(vocab - 1))
            kernel("embedding", parallel: rows, [.loop("r", .int(rows), parallel: true, [
                .letInt("id", id),
                .loop("j", .int(d), parallel: false, [.store(outs[0], v("r") * .int(d) + v("j"), .load(ins[0], v("id") * .int(d) + v("j")))]),
            ])])
        }
    }

    /// Strides (in batch elements) of a batch shape broadcast to `out`: 0 where broadcast.
    static func batchStrides(_ s: [Int], _ out: [Int]) -> [Int] {
        let st = strides(s), pad = out.count - s.count
        return (0..<out.count).map { d in d < pad || s[d - pad] == 1 ? 0 : st[d - pad] }
    }
}
