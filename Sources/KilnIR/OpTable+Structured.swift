// Table entries for contractions, convolutions, pooling, normalizations and reductions.

func requireF32(_ kind: OpKind, _ ins: [TensorType], _ names: [String]) throws(IRError) {
    for (i, t) in ins.enumerated() where t.dtype != .f32 {
        let name = i < names.count ? names[i] : "operand \(i)"
        throw IRError("\(kind): \(name) must be f32, got \(t)")
    }
}

func requireRank(_ kind: OpKind, _ name: String, _ t: TensorType, _ rank: Int) throws(IRError) {
    guard t.rank == rank else { throw IRError("\(kind): \(name) must have rank \(rank), got \(t)") }
}

/// Output length of a strided, dilated, padded window along one axis.
func windowOutput(_ kind: OpKind, input: Int, kernel: Int, stride: Int, dilation: Int, padBefore: Int, padAfter: Int) throws(IRError) -> Int {
    // Attributes come from text and may be huge; overflow must be an error, not a trap.
    let (ext, o1) = dilation.multipliedReportingOverflow(by: kernel - 1)
    let (padded1, o2) = input.addingReportingOverflow(padBefore)
    let (padded, o3) = padded1.addingReportingOverflow(padAfter)
    guard !o1, !o2, !o3, ext < Int.max else {
        throw IRError("\(kind): window extent or padding is too large")
    }
    let span = ext + 1
    guard padded >= span else {
        throw IRError("\(kind): window of extent \(span) does not fit padded input of length \(padded)")
    }
    return (padded - span) / stride + 1
}

func structuredOps() -> [OpInfo] {
    var ops: [OpInfo] = []

    ops.append(OpInfo(
        kind: .matmul, category: .contraction, operandNames: ["a", "b"], minInputs: 2, maxInputs: 2,
        outputs: .fixed(1), attributes: [], regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, _, _ throws(IRError) in
            let (a, b) = (ins[0], ins[1])
            try requireF32(.matmul, ins, ["a", "b"])
            guard a.rank >= 2, b.rank >= 2 else { throw mismatch(.matmul, "operands need rank >= 2", a, b) }
            guard a.shape[a.rank - 1] == b.shape[b.rank - 2] else {
                throw mismatch(.matmul, "contraction dimensions differ", a, b)
            }
            guard let batch = broadcastShapes(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
                throw mismatch(.matmul, "batch dimensions do not broadcast", a, b)
            }
            return [TensorType(.f32, batch + [a.shape[a.rank - 2], b.shape[b.rank - 1]])]
        },
        flops: { ins, outs, _ in 2 * Double(outs[0].elementCount) * Double(ins[0].shape.last!) }))

    // linear(x[..., K], w[K, N], bias[N]?) = x @ w + bias. Weights are stored [in, out].
    ops.append(OpInfo(
        kind: .linear, category: .contraction, operandNames: ["x", "weight", "bias"], minInputs: 2, maxInputs: 3,
        outputs: .fixed(1), attributes: [], regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, _, _ throws(IRError) in
            try requireF32(.linear, ins, ["x", "weight", "bias"])
            let (x, w) = (ins[0], ins[1])
            try requireRank(.linear, "weight", w, 2)
            guard x.rank >= 1, x.shape.last == w.shape[0] else {
                throw mismatch(.linear, "input features do not match weight [in, out]", x, w)
            }
            if ins.count == 3, ins[2].shape != [w.shape[1]] {
                throw mismatch(.linear, "bias must be [out]", ins[2], w)
            }
            return [TensorType(.f32, Array(x.shape.dropLast()) + [w.shape[1]])]
        },
        flops: { ins, outs, _ in 2 * Double(outs[0].elementCount) * Double(ins[1].shape[0]) }))

    // embedding(table[V, D], ids: i32[...]) = table[ids].
    ops.append(OpInfo(
        kind: .embedding, category: .contraction, operandNames: ["table", "ids"], minInputs: 2, maxInputs: 2,
        outputs: .fixed(1), attributes: [], regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, _, _ throws(IRError) in
            try requireRank(.embedding, "table", ins[0], 2)
            guard ins[0].dtype == .f32 else { throw IRError("embedding: table must be f32, got \(ins[0])") }
            guard ins[1].dtype == .i32 else { throw IRError("embedding: ids must be i32, got \(ins[1])") }
            return [TensorType(.f32, ins[1].shape + [ins[0].shape[1]])]
        },
        flops: { _, _, _ in 0 }))

    // conv2d(x[N,H,W,C], w[KH,KW,C/groups,O], bias[O]?); depthwise is groups = C.
    ops.append(OpInfo(
        kind: .conv2d, category: .convolution, operandNames: ["x", "weight", "bias"], minInputs: 2, maxInputs: 3,
        outputs: .fixed(1),
        attributes: [
            AttributeSpec("stride", .ints, default: .ints([1, 1]), check: Checks.count(2, Checks.positive)),
            // top, bottom, left, right
            AttributeSpec("padding", .ints, default: .ints([0, 0, 0, 0]), check: Checks.count(4, Checks.nonNegative)),
            AttributeSpec("dilation", .ints, default: .ints([1, 1]), check: Checks.count(2, Checks.positive)),
            AttributeSpec("groups", .int, default: .int(1), check: Checks.positive),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            try requireF32(.conv2d, ins, ["x", "weight", "bias"])
            let (x, w) = (ins[0], ins[1])
            try requireRank(.conv2d, "x", x, 4)
            try requireRank(.conv2d, "weight", w, 4)
            let g = a.int("groups"), s = a.ints("stride"), p = a.ints("padding"), d = a.ints("dilation")
            let c = x.shape[3], o = w.shape[3]
            guard c % g == 0, o % g == 0 else {
                throw IRError("conv2d: groups = \(g) must divide input channels \(c) and output channels \(o)")
            }
            guard w.shape[2] == c / g else {
                throw mismatch(.conv2d, "weight must be [KH,KW,C/groups,O] with C/groups = \(c / g)", x, w)
            }
            if ins.count == 3, ins[2].shape != [o] { throw mismatch(.conv2d, "bias must be [O]", ins[2], w) }
            let oh = try windowOutput(.conv2d, input: x.shape[1], kernel: w.shape[0], stride: s[0], dilation: d[0], padBefore: p[0], padAfter: p[1])
            let ow = try windowOutput(.conv2d, input: x.shape[2], kernel: w.shape[1], stride: s[1], dilation: d[1], padBefore: p[2], padAfter: p[3])
            return [TensorType(.f32, [x.shape[0], oh, ow, o])]
        },
        flops: { ins, outs, _ in
            let w = ins[1].shape
            return 2 * Double(outs[0].elementCount) * Double(w[0] * w[1] * w[2])
        }))

    // conv1d(x[N,T,C], w[K,C/groups,O], bias[O]?); causal = padding [(K-1)*dilation, 0].
    ops.append(OpInfo(
        kind: .conv1d, category: .convolution, operandNames: ["x", "weight", "bias"], minInputs: 2, maxInputs: 3,
        outputs: .fixed(1),
        attributes: [
            AttributeSpec("stride", .int, default: .int(1), check: Checks.positive),
            // left, right
            AttributeSpec("padding", .ints, default: .ints([0, 0]), check: Checks.count(2, Checks.nonNegative)),
            AttributeSpec("dilation", .int, default: .int(1), check: Checks.positive),
            AttributeSpec("groups", .int, default: .int(1), check: Checks.positive),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            try requireF32(.conv1d, ins, ["x", "weight", "bias"])
            let (x, w) = (ins[0], ins[1])
            try requireRank(.conv1d, "x", x, 3)
            try requireRank(.conv1d, "weight", w, 3)
            let g = a.int("groups"), p = a.ints("padding")
            let c = x.shape[2], o = w.shape[2]
            guard c % g == 0, o % g == 0 else {
                throw IRError("conv1d: groups = \(g) must divide input channels \(c) and output channels \(o)")
            }
            guard w.shape[1] == c / g else {
                throw mismatch(.conv1d, "weight must be [K,C/groups,O] with C/groups = \(c / g)", x, w)
            }
            if ins.count == 3, ins[2].shape != [o] { throw mismatch(.conv1d, "bias must be [O]", ins[2], w) }
            let t = try windowOutput(.conv1d, input: x.shape[1], kernel: w.shape[0], stride: a.int("stride"),
                                     dilation: a.int("dilation"), padBefore: p[0], padAfter: p[1])
            return [TensorType(.f32, [x.shape[0], t, o])]
        },
        flops: { ins, outs, _ in 2 * Double(outs[0].elementCount) * Double(ins[1].shape[0] * ins[1].shape[1]) }))

    // Pooling over NHWC; average pooling divides by the number of in-bounds elements.
    for kind in [OpKind.max_pool2d, .avg_pool2d] {
        ops.append(OpInfo(
            kind: kind, category: .pooling, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
            attributes: poolAttributeSpecs(), regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in [try pooledType(kind, ins[0], a)] },
            flops: { _, outs, a in Double(outs[0].elementCount) * a.ints("window").reduce(1.0) { $0 * Double($1) } }))
    }

    ops += convolutionGradientOps()
    ops += normalizationOps()
    ops += reductionOps()
    return ops
}

/// window, stride, padding: the attributes of pooling (and of its gradient).
func poolAttributeSpecs() -> [AttributeSpec] {
    [
        AttributeSpec("window", .ints, check: Checks.count(2, Checks.positive)),
        AttributeSpec("stride", .ints, check: Checks.count(2, Checks.positive)),
        AttributeSpec("padding", .ints, default: .ints([0, 0, 0, 0]), check: Checks.count(4, Checks.nonNegative)),
    ]
}

/// The pooled type of x (NHWC); padding must be smaller than the window.
func pooledType(_ kind: OpKind, _ x: TensorType, _ a: Attributes) throws(IRError) -> TensorType {
    try requireF32(kind, [x], ["x"])
    try requireRank(kind, "x", x, 4)
    let k = a.ints("window"), s = a.ints("stride"), p = a.ints("padding")
    guard p[0] < k[0], p[1] < k[0], p[2] < k[1], p[3] < k[1] else {
        throw IRError("\(kind): padding \(p) must be smaller than the window \(k)")
    }
    let oh = try windowOutput(kind, input: x.shape[1], kernel: k[0], stride: s[0], dilation: 1, padBefore: p[0], padAfter: p[1])
    let ow = try windowOutput(kind, input: x.shape[2], kernel: k[1], stride: s[1], dilation: 1, padBefore: p[2], padAfter: p[3])
    return TensorType(.f32, [x.shape[0], oh, ow, x.shape[3]])
}
