// Table entries for the gradients of conv2d, so backward graphs stay ordinary Graph IR.

/// stride, padding, dilation, groups: the forward convolution's attributes.
func convAttributeSpecs() -> [AttributeSpec] {
    [
        AttributeSpec("stride", .ints, default: .ints([1, 1]), check: Checks.count(2, Checks.positive)),
        AttributeSpec("padding", .ints, default: .ints([0, 0, 0, 0]), check: Checks.count(4, Checks.nonNegative)),
        AttributeSpec("dilation", .ints, default: .ints([1, 1]), check: Checks.count(2, Checks.positive)),
        AttributeSpec("groups", .int, default: .int(1), check: Checks.positive),
    ]
}

/// The forward output size of a conv2d over an input of `hw` with kernel `k`, or a shape error.
func convOutput(_ kind: OpKind, _ hw: [Int], _ k: [Int], _ a: Attributes) throws(IRError) -> [Int] {
    let s = a.ints("stride"), p = a.ints("padding"), d = a.ints("dilation")
    return [try windowOutput(kind, input: hw[0], kernel: k[0], stride: s[0], dilation: d[0], padBefore: p[0], padAfter: p[1]),
            try windowOutput(kind, input: hw[1], kernel: k[1], stride: s[1], dilation: d[1], padBefore: p[2], padAfter: p[3])]
}

func convolutionGradientOps() -> [OpInfo] {
    [
        // max_pool2d_backward(x [N,H,W,C], grad [N,OH,OW,C]) {window, stride, padding} -> dx: each
        // window's cotangent goes to its first maximal element.
        OpInfo(
            kind: .max_pool2d_backward, category: .pooling, operandNames: ["x", "grad"], minInputs: 2, maxInputs: 2, outputs: .fixed(1),
            // Built from shared functions: reading OpInfo.table here would deadlock its lazy initialization.
            attributes: poolAttributeSpecs(), regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in
                guard try pooledType(.max_pool2d_backward, ins[0], a) == ins[1] else { throw mismatch(.max_pool2d_backward, "grad must be the pooled shape of x", ins[0], ins[1]) }
                return [ins[0]]
            },
            flops: { ins, _, a in Double(ins[1].elementCount) * a.ints("window").reduce(1.0) { $0 * Double($1) } }),
        // embedding_backward(ids i32[...], grad [..., D]) {rows} -> dtable [rows, D]: scatter-add.
        OpInfo(
            kind: .embedding_backward, category: .contraction, operandNames: ["ids", "grad"], minInputs: 2, maxInputs: 2, outputs: .fixed(1),
            attributes: [AttributeSpec("rows", .int, check: Checks.positive)], regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in
                guard ins[0].dtype == .i32, ins[1].dtype == .f32, ins[1].rank == ins[0].rank + 1,
                      Array(ins[1].shape.dropLast()) == ins[0].shape else {
                    throw mismatch(.embedding_backward, "grad must be f32[ids..., D] for i32 ids", ins[0], ins[1])
                }
                return [TensorType(.f32, [a.int("rows"), ins[1].shape.last!])]
            },
            flops: { ins, _, _ in Double(ins[1].elementCount) }),
        // conv2d_backward_input(g [N,OH,OW,O], weight [KH,KW,C/groups,O]) {input_size [H,W], ...} -> dx [N,H,W,C]
        OpInfo(
            kind: .conv2d_backward_input, category: .convolution, operandNames: ["grad", "weight"], minInputs: 2, maxInputs: 2,
            outputs: .fixed(1),
            attributes: [AttributeSpec("input_size", .ints, check: Checks.count(2, Checks.positive))] + convAttributeSpecs(),
            regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in
                try requireF32(.conv2d_backward_input, ins, ["grad", "weight"])
                let (g, w) = (ins[0], ins[1])
                try requireRank(.conv2d_backward_input, "grad", g, 4)
                try requireRank(.conv2d_backward_input, "weight", w, 4)
                let groups = a.int("groups"), hw = a.ints("input_size")
                guard g.shape[3] == w.shape[3], w.shape[3] % groups == 0 else {
                    throw mismatch(.conv2d_backward_input, "grad channels must equal the weight's O, divisible by groups", g, w)
                }
                guard try convOutput(.conv2d_backward_input, hw, [w.shape[0], w.shape[1]], a) == [g.shape[1], g.shape[2]] else {
                    throw mismatch(.conv2d_backward_input, "grad is not the conv2d output size for input_size \(hw)", g, w)
                }
                return [TensorType(.f32, [g.shape[0], hw[0], hw[1], w.shape[2] * groups])]
            },
            flops: { ins, _, _ in 2 * Double(ins[0].elementCount) * Double(ins[1].shape[0] * ins[1].shape[1] * ins[1].shape[2]) }),
        // conv2d_backward_weight(x [N,H,W,C], g [N,OH,OW,O]) {kernel [KH,KW], ...} -> dweight [KH,KW,C/groups,O]
        OpInfo(
            kind: .conv2d_backward_weight, category: .convolution, operandNames: ["x", "grad"], minInputs: 2, maxInputs: 2,
            outputs: .fixed(1),
            attributes: [AttributeSpec("kernel", .ints, check: Checks.count(2, Checks.positive))] + convAttributeSpecs(),
            regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in
                try requireF32(.conv2d_backward_weight, ins, ["x", "grad"])
                let (x, g) = (ins[0], ins[1])
                try requireRank(.conv2d_backward_weight, "x", x, 4)
                try requireRank(.conv2d_backward_weight, "grad", g, 4)
                let groups = a.int("groups"), k = a.ints("kernel")
                guard x.shape[0] == g.shape[0], x.shape[3] % groups == 0, g.shape[3] % groups == 0 else {
                    throw mismatch(.conv2d_backward_weight, "batch sizes must match and groups divide both channel counts", x, g)
                }
                guard try convOutput(.conv2d_backward_weight, [x.shape[1], x.shape[2]], k, a) == [g.shape[1], g.shape[2]] else {
                    throw mismatch(.conv2d_backward_weight, "grad is not the conv2d output size of x", x, g)
                }
                return [TensorType(.f32, [k[0], k[1], x.shape[3] / groups, g.shape[3]])]
            },
            flops: { ins, outs, _ in 2 * Double(ins[1].elementCount) * Double(outs[0].shape[0] * outs[0].shape[1] * outs[0].shape[2]) }),
    ]
}
