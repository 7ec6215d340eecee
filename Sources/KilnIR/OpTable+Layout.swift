// Table entries for layout ops: reshape, permute, slice, concat, split, broadcast.

func layoutOps() -> [OpInfo] {
    var ops: [OpInfo] = []
    let noCost: OpInfo.CostRule = { _, _, _ in 0 }

    ops.append(OpInfo(
        kind: .reshape, category: .layout, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
        attributes: [AttributeSpec("shape", .ints, check: Checks.positive)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let t = TensorType(ins[0].dtype, a.ints("shape"))
            try t.validate()
            guard t.elementCount == ins[0].elementCount else {
                throw IRError("reshape: cannot reshape \(ins[0]) (\(ins[0].elementCount) elements) to \(t) (\(t.elementCount) elements)")
            }
            return [t]
        },
        flops: noCost))

    ops.append(OpInfo(
        kind: .permute, category: .layout, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
        attributes: [AttributeSpec("perm", .ints)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let p = a.ints("perm"), x = ins[0]
            guard p.count == x.rank, Set(p) == Set(0..<x.rank) else {
                throw IRError("permute: perm \(p) is not a permutation of 0..<\(x.rank) for \(x)")
            }
            return [TensorType(x.dtype, p.map { x.shape[$0] })]
        },
        flops: noCost))

    // slice along one axis: elements start, start+step, ... < end.
    ops.append(OpInfo(
        kind: .slice, category: .layout, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
        attributes: [
            AttributeSpec("axis", .int),
            AttributeSpec("start", .int, check: Checks.nonNegative),
            AttributeSpec("end", .int, check: Checks.nonNegative),
            AttributeSpec("step", .int, default: .int(1), check: Checks.positive),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let x = ins[0]
            let axis = try normalizeAxis(a.int("axis"), rank: x.rank, op: "slice")
            let start = a.int("start"), end = a.int("end"), step = a.int("step")
            guard start < end, end <= x.shape[axis] else {
                throw IRError("slice: range \(start)..<\(end) is empty or outside dimension \(axis) of \(x)")
            }
            var s = x.shape
            s[axis] = (end - start - 1) / step + 1 // not (end-start+step-1)/step, which overflows for huge steps
            return [TensorType(x.dtype, s)]
        },
        flops: noCost))

    ops.append(OpInfo(
        kind: .concat, category: .layout, operandNames: ["x..."], minInputs: 1, maxInputs: nil, outputs: .fixed(1),
        attributes: [AttributeSpec("axis", .int)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let first = ins[0]
            let axis = try normalizeAxis(a.int("axis"), rank: first.rank, op: "concat")
            var total = 0
            for t in ins {
                var s1 = t.shape, s0 = first.shape
                guard t.dtype == first.dtype, t.rank == first.rank else {
                    throw mismatch(.concat, "operands differ in type or rank", first, t)
                }
                s1[axis] = 0; s0[axis] = 0
                guard s1 == s0 else { throw mismatch(.concat, "operands differ outside axis \(axis)", first, t) }
                total += t.shape[axis]
            }
            var s = first.shape
            s[axis] = total
            return [TensorType(first.dtype, s)]
        },
        flops: noCost))

    ops.append(OpInfo(
        kind: .split, category: .layout, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .computed,
        attributes: [AttributeSpec("axis", .int), AttributeSpec("sizes", .ints, check: Checks.positive)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let x = ins[0], sizes = a.ints("sizes")
            let axis = try normalizeAxis(a.int("axis"), rank: x.rank, op: "split")
            // Sum with overflow checks: sizes come from text and may be huge.
            var total = 0, overflow = sizes.isEmpty
            for n in sizes where !overflow { (total, overflow) = total.addingReportingOverflow(n) }
            guard !overflow, total == x.shape[axis] else {
                throw IRError("split: sizes \(sizes) must sum to dimension \(axis) of \(x)")
            }
            return sizes.map { n in var s = x.shape; s[axis] = n; return TensorType(x.dtype, s) }
        },
        flops: noCost))

    ops.append(OpInfo(
        kind: .broadcast, category: .layout, operandNames: ["x"], minInputs: 1, maxInputs: 1, outputs: .fixed(1),
        attributes: [AttributeSpec("shape", .ints, check: Checks.positive)],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { ins, a, _ throws(IRError) in
            let target = a.ints("shape")
            let t = TensorType(ins[0].dtype, target)
            try t.validate()
            guard broadcastShapes(ins[0].shape, target) == target else {
                throw IRError("broadcast: \(ins[0]) does not broadcast to \(t)")
            }
            return [t]
        },
        flops: noCost))
    return ops
}
