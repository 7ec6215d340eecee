import KilnIR

/// One vector-Jacobian product rule per op: given a node (over gradient-function values)
/// and the cotangents of its results, the cotangents of its operands (nil: none).
enum VJP {
    static func rule(_ n: Node, _ g: [ValueID], _ c: GradContext) throws -> [ValueID?] {
        switch n.op {
        case .constant:
            return []
        case .neg, .exp, .log, .sqrt, .rsqrt, .tanh, .sigmoid, .logsigmoid, .relu, .relu6, .gelu, .silu, .softplus, .abs, .erf, .step:
            return [try unary(n, g[0], c)]
        case .add, .sub, .mul, .div, .max, .min:
            return try binary(n, g[0], c)
        case .matmul, .linear:
            return try contraction(n, g[0], c)
        case .layer_norm, .rms_norm, .batch_norm, .softmax, .log_softmax:
            return try normalization(n, g[0], c)
        case .reduce_sum, .reduce_mean, .reduce_max, .reshape, .permute, .slice, .concat, .split, .broadcast, .cumsum:
            return try layout(n, g, c)
        case .conv2d, .conv1d:
            return try convolution(n, g[0], c)
        case .max_pool2d, .avg_pool2d, .embedding:
            return try pooling(n, g[0], c)
        case .linear_attention:
            return try linearAttention(n, g, c)
        case .linear_attention_backward, .conv2d_backward_input, .conv2d_backward_weight, .max_pool2d_backward, .embedding_backward:
            throw IRError("gradient: no VJP rule for \(n.op) yet")
        case .repeat, .fused:
            throw IRError("internal: \(n.op) should have been inlined before differentiation")
        }
    }

    static func unary(_ n: Node, _ g: ValueID, _ c: GradContext) throws -> ValueID {
        let x = n.inputs[0], y = n.outputs[0]
        switch n.op {
        case .neg: return try c.neg(g)
        case .exp: return try c.mul(g, y)
        case .log: return try c.div(g, x)
        case .sqrt: return try c.div(try c.scale(g, 0.5), y)
        case .rsqrt: return try c.mul(try c.scale(g, -0.5), try c.mul(y, try c.mul(y, y)))
        case .tanh: return try c.mul(g, try c.sub(try c.scalar(1), try c.mul(y, y)))
        case .sigmoid: return try c.mul(g, try c.mul(y, try c.sub(try c.scalar(1), y)))
        case .logsigmoid: return try c.mul(g, try c.op(.sigmoid, [try c.neg(x)]))
        case .softplus: return try c.mul(g, try c.op(.sigmoid, [x]))
        case .relu: return try c.mul(g, try c.op(.step, [x]))
        case .relu6:
            return try c.mul(g, try c.mul(try c.op(.step, [x]), try c.op(.step, [try c.sub(try c.scalar(6), x)])))
        case .abs: return try c.mul(g, try c.sub(try c.scale(try c.op(.step, [x]), 2), try c.scalar(1)))
        case .step: return try c.zeros(c.type(x))
        case .erf:
            // d erf / dx = 2/sqrt(pi) e^{-x^2}
            return try c.mul(g, try c.scale(try c.op(.exp, [try c.neg(try c.mul(x, x))]), 1.1283791670955126))
        case .silu:
            let s = try c.op(.sigmoid, [x])
            return try c.mul(g, try c.mul(s, try c.add(try c.scalar(1), try c.mul(x, try c.sub(try c.scalar(1), s)))))
        case .gelu:
            if n.attributes.symbol("approximate") == "tanh" {
                let k = 0.7978845608028654, a = 0.044715
                let x2 = try c.mul(x, x)
                let u = try c.scale(try c.add(x, try c.scale(try c.mul(x2, x), a)), k)
                let t = try c.op(.tanh, [u])
                let du = try c.scale(try c.add(try c.scalar(1), try c.scale(x2, 3 * a)), k)
                let left = try c.scale(try c.add(try c.scalar(1), t), 0.5)
                let right = try c.mul(try c.scale(x, 0.5), try c.mul(try c.sub(try c.scalar(1), try c.mul(t, t)), du))
                return try c.mul(g, try c.add(left, right))
            }
            // Phi(x) + x phi(x)
            let cdf = try c.scale(try c.add(try c.scalar(1), try c.op(.erf, [try c.scale(x, 0.7071067811865476)])), 0.5)
            let pdf = try c.scale(try c.op(.exp, [try c.scale(try c.mul(x, x), -0.5)]), 0.3989422804014327)
            return try c.mul(g, try c.add(cdf, try c.mul(x, pdf)))
        default:
            throw IRError("internal: \(n.op) is not unary")
        }
    }

    static func binary(_ n: Node, _ g: ValueID, _ c: GradContext) throws -> [ValueID?] {
        let (a, b) = (n.inputs[0], n.inputs[1])
        let (sa, sb) = (c.shape(a), c.shape(b))
        switch n.op {
        case .add: return [try c.sumTo(g, sa), try c.sumTo(g, sb)]
        case .sub: return [try c.sumTo(g, sa), try c.sumTo(try c.neg(g), sb)]
        case .mul: return [try c.sumTo(try c.mul(g, b), sa), try c.sumTo(try c.mul(g, a), sb)]
        case .div:
            let ga = try c.div(g, b)
            return [try c.sumTo(ga, sa), try c.sumTo(try c.neg(try c.mul(ga, n.outputs[0])), sb)]
        default: // max, min: the cotangent goes to the operand that was selected (ties: to b).
            let mask = try c.op(.step, [n.op == .max ? try c.sub(a, b) : try c.sub(b, a)])
            let ga = try c.mul(g, mask)
            return [try c.sumTo(ga, sa), try c.sumTo(try c.sub(g, ga), sb)]
        }
    }

    static func contraction(_ n: Node, _ g: ValueID, _ c: GradContext) throws -> [ValueID?] {
        func transposeLast(_ v: ValueID) throws -> ValueID {
            let r = c.shape(v).count
            return try c.op(.permute, [v], ["perm": .ints(Array(0..<(r - 2)) + [r - 1, r - 2])])
        }
        if n.op == .matmul {
            let (a, b) = (n.inputs[0], n.inputs[1])
            let da = try c.sumTo(try c.op(.matmul, [g, try transposeLast(b)]), c.shape(a))
            let db = try c.sumTo(try c.op(.matmul, [try transposeLast(a), g]), c.shape(b))
            return [da, db]
        }
        let (x, w) = (n.inputs[0], n.inputs[1])
        let k = c.shape(w)[0], out = c.shape(w)[1], rows = c.type(x).elementCount / k
        let g2 = try c.reshape(g, [rows, out]), x2 = try c.reshape(x, [rows, k])
        // dx = g . w^T as a `linear` on g's own shape (no bias): no reshapes on the data path,
        // so the backward of a row-fused block stays row by row (`fuse-block-backward`).
        let dx = try c.op(.linear, [g, try transposeLast(w)])
        let dw = try c.op(.matmul, [try transposeLast(x2), g2])
        var result: [ValueID?] = [dx, dw]
        if n.inputs.count > 2 { result.append(try c.sum(g2, axes: [0], keepdims: false)) }
        return result
    }
}
