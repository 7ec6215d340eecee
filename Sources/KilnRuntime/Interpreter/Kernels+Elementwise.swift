import KilnIR
import RealModule

/// Plain-Swift kernels of the interpreter, generic over Float and Double.
enum Kernels<S: InterpScalar> {
    static func sigmoid(_ v: S) -> S {
        // Split on the sign so exp never overflows.
        if v >= 0 { return 1 / (1 + S.exp(-v)) }
        let e = S.exp(v)
        return e / (1 + e)
    }

    static func unary(_ op: OpKind, _ x: [S], tanhGelu: Bool) -> [S] {
        let sqrt2 = S.sqrt(2), c = S.sqrt(2 / S.pi)
        switch op {
        case .neg: return x.map { -$0 }
        case .exp: return x.map { S.exp($0) }
        case .log: return x.map { S.log($0) }
        case .sqrt: return x.map { S.sqrt($0) }
        case .rsqrt: return x.map { 1 / S.sqrt($0) }
        case .tanh: return x.map { S.tanh($0) }
        case .sigmoid: return x.map(sigmoid)
        case .logsigmoid: return x.map { Swift.min($0, 0) - S.log(onePlus: S.exp(-Swift.abs($0))) }
        case .relu: return x.map { Swift.max($0, 0) }
        case .relu6: return x.map { Swift.min(Swift.max($0, 0), 6) }
        case .gelu:
            // 1 + tanh(u) = 2 sigmoid(2u) and 1 + erf(-a) = erfc(a): no cancellation for x << 0.
            if tanhGelu { return x.map { v in v * sigmoid(2 * c * (v + S(0.044715) * v * v * v)) } }
            return x.map { v in v < 0 ? v / 2 * S.erfc(-v / sqrt2) : v / 2 * (1 + S.erf(v / sqrt2)) }
        case .silu: return x.map { $0 * sigmoid($0) }
        case .softplus: return x.map { Swift.max($0, 0) + S.log(onePlus: S.exp(-Swift.abs($0))) }
        case .abs: return x.map { Swift.abs($0) }
        case .erf: return x.map { S.erf($0) }
        case .step: return x.map { $0 > 0 ? 1 : 0 }
        default: preconditionFailure("\(op) is not unary")
        }
    }

    static func apply(_ op: OpKind, _ a: S, _ b: S) -> S {
        switch op {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .max: return Swift.max(a, b)
        case .min: return Swift.min(a, b)
        default: preconditionFailure("\(op) is not binary")
        }
    }

    /// Numpy broadcasting: strides of a shape aligned to the output, 0 where broadcast.
    static func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
        let strides = rowMajorStrides(shape)
        let pad = out.count - shape.count
        return (0..<out.count).map { i in i < pad || shape[i - pad] == 1 ? 0 : strides[i - pad] }
    }

    static func binary(_ op: OpKind, _ a: [S], _ sa: [Int], _ b: [S], _ sb: [Int], _ so: [Int]) -> [S] {
        if sa == sb { return zip(a, b).map { apply(op, $0, $1) } }
        if b.count == 1 { let v = b[0]; return a.map { apply(op, $0, v) } }
        if a.count == 1 { let v = a[0]; return b.map { apply(op, v, $0) } }
        let ta = broadcastStrides(sa, to: so), tb = broadcastStrides(sb, to: so)
        var out = [S](repeating: 0, count: so.reduce(1, *))
        forEachIndex(so) { i, idx in
            var oa = 0, ob = 0
            for d in 0..<so.count { oa += idx[d] * ta[d]; ob += idx[d] * tb[d] }
            out[i] = apply(op, a[oa], b[ob])
        }
        return out
    }
}

/// Row-major strides of a shape.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
    return s
}

/// Calls `body(linearIndex, multiIndex)` for every element of `shape` in row-major order.
func forEachIndex(_ shape: [Int], _ body: (Int, [Int]) -> Void) {
    let n = shape.reduce(1, *)
    var idx = [Int](repeating: 0, count: shape.count)
    for i in 0..<n {
        body(i, idx)
        var d = shape.count - 1
        while d >= 0 {
            idx[d] += 1
            if idx[d] < shape[d] { break }
            idx[d] = 0
            d -= 1
        }
    }
}
