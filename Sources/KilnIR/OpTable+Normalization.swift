// Table entries for normalizations, softmax and reductions.

/// gamma/beta operands must be [C] where C is the last dimension of x.
func checkChannelParams(_ kind: OpKind, _ ins: [TensorType], _ names: [String]) throws(IRError) {
    let c = ins[0].shape.last ?? 1
    for i in 1..<ins.count where ins[i].shape != [c] {
        throw mismatch(kind, "\(names[i]) must be [\(c)] (the last dimension of x)", ins[i], ins[0])
    }
}

func normalizationOps() -> [OpInfo] {
    var ops: [OpInfo] = []

    // layer_norm(x, gamma?, beta?) normalizes over the last dimension.
    ops.append(OpInfo(
        kind: .layer_norm, category: .normalization, operandNames: ["x", "gamma", "beta"], minInputs: 1, maxInputs: 3,
        outputs: .fixed(1),
        attributes: [AttributeSpec("eps", .float, default: .float(1e-5), check: Checks.positiveFloat)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, _, _ throws(IRError) in
            try requireF32(.layer_norm, ins, ["x", "gamma", "beta"])
            guard ins[0].rank >= 1 else { throw IRError("layer_norm: x must have rank >= 1, got \(ins[0])") }
            try checkChannelParams(.layer_norm, ins, ["x", "gamma", "beta"])
            return [ins[0]]
        },
        flops: elementCountFlops(8)))

    // rms_norm(x, gamma?) = x * rsqrt(mean(x^2) + eps) * gamma over the last dimension.
    ops.append(OpInfo(
        kind: .rms_norm, category: .normalization, operandNames: ["x", "gamma"], minInputs: 1, maxInputs: 2,
        outputs: .fixed(1),
        attributes: [AttributeSpec("eps", .float, default: .float(1e-6), check: Checks.positiveFloat)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, _, _ throws(IRError) in
            try requireF32(.rms_norm, ins, ["x", "gamma"])
            guard ins[0].rank >= 1 else { throw IRError("rms_norm: x must have rank >= 1, got \(ins[0])") }
            try checkChannelParams(.rms_norm, ins, ["x", "gamma"])
            return [ins[0]]
        },
        flops: elementCountFlops(5)))

    // batch_norm over the last (channel) axis. Inference uses running statistics;
    // `training = true` uses the batch statistics over all other axes.
    ops.append(OpInfo(
        kind: .batch_norm, category: .normalization,
        operandNames: ["x", "gamma", "beta", "running_mean", "running_var"], minInputs: 5, maxInputs: 5,
        outputs: .fixed(1),
        attributes: [
            AttributeSpec("eps", .float, default: .float(1e-5), check: Checks.positiveFloat),
            AttributeSpec("training", .bool, default: .bool(false)),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, _, _ throws(IRError) in
            let names = ["x", "gamma", "beta", "running_mean", "running_var"]
            try requireF32(.batch_norm, ins, names)
            guard ins[0].rank >= 2 else { throw IRError("batch_norm: x must have rank >= 2, got \(ins[0])") }
            try checkChannelParams(.batch_norm, ins, names)
            return [ins[0]]
        },
        flops: elementCountFlops(2)))

    for kind in [OpKind.softmax, .log_softmax] {
        ops.append(OpInfo(
            kind: kind, category: .normalization, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
            attributes: [AttributeSpec("axis", .int, default: .int(-1))],
            regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in
                try requireF32(kind, ins, ["x"])
                _ = try normalizeAxis(a.int("axis"), rank: ins[0].rank, op: kind.rawValue)
                return [ins[0]]
            },
            flops: elementCountFlops(14)))
    }
    return ops
}

func reductionOps() -> [OpInfo] {
    [OpKind.reduce_sum, .reduce_mean, .reduce_max].map { kind in
        OpInfo(
            kind: kind, category: .reduction, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
            attributes: [
                AttributeSpec("axes", .ints),
                AttributeSpec("keepdims", .bool, default: .bool(false)),
            ],
            regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, a, _ throws(IRError) in
                let x = ins[0]
                try requireF32(kind, ins, ["x"])
                var axes = Set<Int>()
                for ax in a.ints("axes") {
                    let n = try normalizeAxis(ax, rank: x.rank, op: kind.rawValue)
                    guard axes.insert(n).inserted else { throw IRError("\(kind): axis \(ax) listed twice") }
                }
                var shape: [Int] = []
                for (i, d) in x.shape.enumerated() {
                    if axes.contains(i) { if a.bool("keepdims") { shape.append(1) } } else { shape.append(d) }
                }
                return [TensorType(.f32, shape)]
            },
            flops: { ins, _, _ in Double(ins[0].elementCount) })
    }
}
