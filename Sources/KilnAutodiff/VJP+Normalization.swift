import KilnIR

extension VJP {
    static func normalization(_ n: Node, _ g: ValueID, _ c: GradContext) throws -> [ValueID?] {
        let x = n.inputs[0], a = n.attributes
        let last = [-1]
        switch n.op {
        case .layer_norm, .rms_norm:
            // Recompute the statistics (cheap, per row) instead of saving them.
            let eps = try c.scalar(a.float("eps"))
            let centered = n.op == .rms_norm ? x : try c.sub(x, try c.mean(x, axes: last, keepdims: true))
            let inv = try c.op(.rsqrt, [try c.add(try c.mean(try c.mul(centered, centered), axes: last, keepdims: true), eps)])
            let xhat = try c.mul(centered, inv)
            let gy = n.inputs.count > 1 ? try c.mul(g, n.inputs[1]) : g
            var inner = try c.sub(gy, try c.mul(xhat, try c.mean(try c.mul(gy, xhat), axes: last, keepdims: true)))
            if n.op == .layer_norm { inner = try c.sub(inner, try c.mean(gy, axes: last, keepdims: true)) }
            var result: [ValueID?] = [try c.mul(inv, inner)]
            if n.inputs.count > 1 { result.append(try c.sum(try c.mul(g, xhat), axes: c.leadingAxes(x), keepdims: false)) }
            if n.inputs.count > 2 { result.append(try c.sum(g, axes: c.leadingAxes(x), keepdims: false)) }
            return result
        case .batch_norm:
            let (gamma, rm, rv) = (n.inputs[1], n.inputs[3], n.inputs[4])
            let axes = c.leadingAxes(x)
            let eps = try c.scalar(a.float("eps"))
            let dbeta = try c.sum(g, axes: axes, keepdims: false)
            if a.bool("training") {
                let mean = try c.mean(x, axes: axes, keepdims: true)
                let centered = try c.sub(x, mean)
                let inv = try c.op(.rsqrt, [try c.add(try c.mean(try c.mul(centered, centered), axes: axes, keepdims: true), eps)])
                let xhat = try c.mul(centered, inv)
                let dgamma = try c.sum(try c.mul(g, xhat), axes: axes, keepdims: false)
                let inner = try c.sub(try c.sub(g, try c.mean(g, axes: axes, keepdims: true)),
                                      try c.mul(xhat, try c.mean(try c.mul(g, xhat), axes: axes, keepdims: true)))
                return [try c.mul(try c.mul(gamma, inv), inner), dgamma, dbeta, nil, nil]
            }
            let inv = try c.op(.rsqrt, [try c.add(rv, eps)])
            let centered = try c.sub(x, rm)
            let ggi = try c.mul(try c.mul(g, gamma), inv)
            let dgamma = try c.sum(try c.mul(try c.mul(g, centered), inv), axes: axes, keepdims: false)
            let dmean = try c.neg(try c.sum(ggi, axes: axes, keepdims: false))
            // d/dvar of (x - m) gamma (v + eps)^-1/2 = -1/2 (x - m) gamma (v + eps)^-3/2
            let dvar = try c.mul(try c.sum(try c.mul(ggi, centered), axes: axes, keepdims: false),
                                 try c.scale(try c.mul(inv, inv), -0.5))
            return [ggi, dgamma, dbeta, dmean, dvar]
        default: // softmax, log_softmax
            let axis = [a.int("axis")], y = n.outputs[0]
            if n.op == .softmax {
                return [try c.mul(y, try c.sub(g, try c.sum(try c.mul(g, y), axes: axis, keepdims: true)))]
            }
            return [try c.sub(g, try c.mul(try c.op(.exp, [y]), try c.sum(g, axes: axis, keepdims: true)))]
        }
    }
}
