// Table entries for sources and elementwise ops.

/// Numpy broadcasting of two shapes, or nil when they do not broadcast.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Unary ops and their approximate cost per element (transcendentals count more).
let unaryOps: [(OpKind, Double)] = [
    (.neg, 1), (.exp, 10), (.log, 10), (.sqrt, 4), (.rsqrt, 4), (.tanh, 12), (.sigmoid, 12),
    (.logsigmoid, 14), (.relu, 1), (.relu6, 2), (.gelu, 14), (.silu, 13), (.softplus, 14), (.abs, 1),
    (.erf, 14), (.step, 1),
]

let binaryOps: [OpKind] = [.add, .sub, .mul, .div, .max, .min]

func elementwiseOps() -> [OpInfo] {
    var ops: [OpInfo] = []
    ops.append(OpInfo(
        kind: .constant, category: .source, operandNames: [], minInputs: 0, maxInputs: 0,
        outputs: .fixed(1),
        attributes: [
            AttributeSpec("dtype", .symbol(["f32", "i32"]), default: .symbol("f32")),
            AttributeSpec("shape", .ints, check: Checks.positive),
            // A splat value, used when `values` is absent.
            AttributeSpec("value", .float, default: .float(0), check: Checks.finiteFloat),
            // Optional explicit elements in row-major order.
            AttributeSpec("values", .floats, default: .floats([])),
        ],
        regionCount: 0, allowsUnknownAttributes: false,
        inferTypes: { _, attrs, _ throws(IRError) in
            let t = TensorType(DType(rawValue: attrs.symbol("dtype")) ?? .f32, attrs.ints("shape"))
            try t.validate()
            let values = attrs.floats("values")
            if !values.isEmpty && values.count != t.elementCount {
                throw IRError("constant: \(values.count) values for \(t), which has \(t.elementCount) elements")
            }
            return [t]
        },
        flops: { _, _, _ in 0 }))

    for (kind, cost) in unaryOps {
        var attrs: [AttributeSpec] = []
        if kind == .gelu {
            attrs.append(AttributeSpec("approximate", .symbol(["none", "tanh"]), default: .symbol("none")))
        }
        ops.append(OpInfo(
            kind: kind, category: .unary, operandNames: ["x"], minInputs: 1, maxInputs: 1,
            outputs: .fixed(1), attributes: attrs, regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, _, _ throws(IRError) in
                guard ins[0].dtype == .f32 else { throw IRError("\(kind): operand must be f32, got \(ins[0])") }
                return [ins[0]]
            },
            flops: elementCountFlops(cost)))
    }

    for kind in binaryOps {
        ops.append(OpInfo(
            kind: kind, category: .binary, operandNames: ["lhs", "rhs"], minInputs: 2, maxInputs: 2,
            outputs: .fixed(1), attributes: [], regionCount: 0, allowsUnknownAttributes: false,
            inferTypes: { ins, _, _ throws(IRError) in
                guard ins[0].dtype == ins[1].dtype else { throw mismatch(kind, "element types differ", ins[0], ins[1]) }
                guard let s = broadcastShapes(ins[0].shape, ins[1].shape) else {
                    throw mismatch(kind, "shapes do not broadcast", ins[0], ins[1])
                }
                return [TensorType(ins[0].dtype, s)]
            },
            flops: elementCountFlops(1)))
    }
    return ops
}
