import KilnIR

extension LowerContext {
    mutating func lowerOp(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) throws {
        let a = node.attributes
        switch node.op {
        case .neg, .exp, .log, .sqrt, .rsqrt, .tanh, .sigmoid, .logsigmoid, .relu, .relu6, .silu, .softplus, .abs, .gelu, .erf, .step:
            var fn = MathFn(rawValue: node.op.rawValue)!
            if node.op == .gelu && a.symbol("approximate") == "tanh" { fn = .gelu_tanh }
            let n = outT[0].elementCount
            kernel(node.op.rawValue, parallel: n, [.loop("i", .int(n), parallel: true, [.store(outs[0], v("i"), .call(fn, .load(ins[0], v("i"))))])])
        case .add, .sub, .mul, .div, .max, .min:
            broadcastBinary(FloatOp(rawValue: node.op.rawValue)!, ins[0], inT[0].shape, ins[1], inT[1].shape, outs[0], outT[0].shape)
        case .broadcast:
            broadcastBinary(nil, ins[0], inT[0].shape, ins[0], inT[0].shape, outs[0], outT[0].shape)
        case .matmul, .linear, .embedding:
            lowerContraction(node, ins, inT, outs, outT)
        case .conv2d, .conv1d, .max_pool2d, .avg_pool2d:
            lowerConvolution(node, ins, inT, outs, outT)
        case .conv2d_backward_input:
            conv2dBackwardInput(ins, inT[0].shape, inT[1].shape, outs[0], outT[0].shape, a)
        case .conv2d_backward_weight:
            conv2dBackwardWeight(ins, inT[0].shape, inT[1].shape, outs[0], a)
        case .max_pool2d_backward:
            maxPoolBackward(ins, inT[0].shape, inT[1].shape, outs[0], a)
        case .embedding_backward:
            embeddingBackward(ins, inT[0].elementCount, outT[0].shape, outs[0])
        case .layer_norm, .rms_norm, .batch_norm, .softmax, .log_softmax:
            try lowerNormalization(node, ins, inT, outs, outT)
        case .reduce_sum, .reduce_mean, .reduce_max:
            try lowerReduction(node, ins, inT, outs, outT)
        case .permute, .slice, .concat, .split, .cumsum:
            try lowerLayout(node, ins, inT, outs, outT)
        case .linear_attention:
            lowerLinearAttention(node, ins, inT, outs, outT)
        case .linear_attention_backward:
            lowerLinearAttentionBackward(node, ins, inT, outs)
        case .constant, .reshape, .repeat, .fused:
            throw CodegenError("internal: \(node.op) is lowered by the driver")
        }
    }

    /// Row-major suffix products of a shape (element strides).
    static func strides(_ s: [Int]) -> [Int] {
        var out = [Int](repeating: 1, count: s.count)
        var acc = 1
        for i in stride(from: s.count - 1, through: 0, by: -1) { out[i] = acc; acc *= s[i] }
        return out
    }

    /// Offset of element `index` (a flat index into `outShape`) in an operand of `shape`
    /// broadcast to it: per dimension idx = (index / outStride) % size, times the operand stride.
    static func broadcastOffset(_ index: KExpr, outShape: [Int], shape: [Int]) -> KExpr {
        let os = strides(outShape), ss = strides(shape)
        let pad = outShape.count - shape.count
        var e: KExpr = 0
        for d in 0..<outShape.count where d >= pad && shape[d - pad] != 1 {
            var idx: KExpr = os[d] == 1 ? index : index / .int(os[d])
            if d > 0 { idx = idx % .int(outShape[d]) }
            e = e == 0 ? idx * .int(ss[d - pad]) : e + idx * .int(ss[d - pad])
        }
        return e
    }

    /// out = op(a, b) with numpy broadcasting (op nil: out = a broadcast). Rows of the last
    /// dimension are the parallel unit; inside a row operands step by 1 or 0.
    mutating func broadcastBinary(_ op: FloatOp?, _ a: Int, _ sa: [Int], _ b: Int, _ sb: [Int], _ out: Int, _ so: [Int]) {
        let inner = so.last ?? 1, rows = max(so.reduce(1, *) / max(inner, 1), 1)
        func operand(_ buf: Int, _ s: [Int]) -> KExpr {
            let base = LowerContext.broadcastOffset(v("r") * .int(inner), outShape: so, shape: s)
            let stepsInner = !s.isEmpty && s.last! != 1   // shapes align at the right
            return .load(buf, stepsInner ? base + v("j") : base)
        }
        let value = op.map { KExpr.fop($0, operand(a, sa), operand(b, sb)) } ?? operand(a, sa)
        kernel(op?.rawValue ?? "broadcast", parallel: rows, [
            .loop("r", .int(rows), parallel: true, [
                .loop("j", .int(inner), parallel: false, [.store(out, v("r") * .int(inner) + v("j"), value)]),
            ]),
        ])
    }
}
