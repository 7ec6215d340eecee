import KilnIR

extension VJP {
    /// conv2d: dx by conv2d_backward_input, dweight by conv2d_backward_weight, dbias by summing
    /// over every pixel. conv1d goes through the same ops as a conv2d of height 1.
    static func convolution(_ n: Node, _ g: ValueID, _ c: GradContext) throws -> [ValueID?] {
        let a = n.attributes
        var (x, w, gy) = (n.inputs[0], n.inputs[1], g)
        var attrs: Attributes
        let xs = c.shape(x), ws = c.shape(w)
        if n.op == .conv1d {
            let p = a.ints("padding")
            attrs = ["stride": .ints([1, a.int("stride")]), "padding": .ints([0, 0, p[0], p[1]]),
                     "dilation": .ints([1, a.int("dilation")]), "groups": .int(a.int("groups"))]
            x = try c.reshape(x, [xs[0], 1, xs[1], xs[2]])
            w = try c.reshape(w, [1] + ws)
            let gs = c.shape(g)
            gy = try c.reshape(g, [gs[0], 1, gs[1], gs[2]])
        } else {
            attrs = ["stride": a["stride"]!, "padding": a["padding"]!, "dilation": a["dilation"]!, "groups": a["groups"]!]
        }
        let x4 = c.shape(x), w4 = c.shape(w)
        if w4[0] == 1, w4[1] == 1, attrs["groups"] == .int(1), attrs["stride"] == .ints([1, 1]),
           attrs["padding"] == .ints([0, 0, 0, 0]) {
            return try pointwiseConvolution(n, x: x, w: w, g: gy, c)
        }
        var inAttrs = attrs, wAttrs = attrs
        inAttrs["input_size"] = .ints([x4[1], x4[2]])
        wAttrs["kernel"] = .ints([w4[0], w4[1]])
        let dx = try c.reshape(try c.op(.conv2d_backward_input, [gy, w], inAttrs), xs)
        let dw = try c.reshape(try c.op(.conv2d_backward_weight, [x, gy], wAttrs), ws)
        var result: [ValueID?] = [dx, dw]
        if n.inputs.count > 2 { result.append(try c.sum(g, axes: Array(0..<(c.shape(g).count - 1)), keepdims: false)) }
        return result
    }
}

extension VJP {
    /// A 1x1 convolution (stride 1, no padding, one group) is a matmul over pixels, so its
    /// backward is too: dx = g . w^T as a `linear` on g's shape (row by row, so
    /// `fuse-block-backward` can keep it in the block's backward kernel) and
    /// dw = x^T . g as one GEMM over all pixels.
    static func pointwiseConvolution(_ n: Node, x: ValueID, w: ValueID, g: ValueID, _ c: GradContext) throws -> [ValueID?] {
        let ws = c.shape(w), cin = ws[2], cout = ws[3]
        let pixels = c.type(x).elementCount / cin
        let w2 = try c.reshape(w, [cin, cout])
        let wt = try c.op(.permute, [w2], ["perm": .ints([1, 0])])
        let dx = try c.reshape(try c.op(.linear, [g, wt]), c.shape(n.inputs[0]))
        let xt = try c.op(.permute, [try c.reshape(x, [pixels, cin])], ["perm": .ints([1, 0])])
        let dw = try c.reshape(try c.op(.matmul, [xt, try c.reshape(g, [pixels, cout])]), c.shape(n.inputs[1]))
        var result: [ValueID?] = [dx, dw]
        if n.inputs.count > 2 { result.append(try c.sum(g, axes: Array(0..<(c.shape(g).count - 1)), keepdims: false)) }
        return result
    }

    /// max_pool2d routes to each window's first maximum; avg_pool2d is the transpose of a
    /// depthwise all-ones convolution applied to grad / (in-bounds count); embedding scatters
    /// rows back into the table (the ids get no cotangent).
    static func pooling(_ n: Node, _ g: ValueID, _ c: GradContext) throws -> [ValueID?] {
        let a = n.attributes
        if n.op == .embedding {
            let (table, ids) = (n.inputs[0], n.inputs[1])
            return [try c.op(.embedding_backward, [ids, g], ["rows": .int(c.shape(table)[0])]), nil]
        }
        let x = n.inputs[0], xs = c.shape(x), gs = c.shape(g)
        if n.op == .max_pool2d {
            return [try c.op(.max_pool2d_backward, [x, g], ["window": a["window"]!, "stride": a["stride"]!, "padding": a["padding"]!])]
        }
        let k = a.ints("window"), s = a.ints("stride"), p = a.ints("padding")
        var counts: [Double] = []
        for y in 0..<gs[1] {
            for xo in 0..<gs[2] {
                let rows = (0..<k[0]).filter { let iy = y * s[0] - p[0] + $0; return iy >= 0 && iy < xs[1] }.count
                let cols = (0..<k[1]).filter { let ix = xo * s[1] - p[2] + $0; return ix >= 0 && ix < xs[2] }.count
                counts.append(Double(rows * cols))
            }
        }
        let count = try c.op(.constant, [], ["shape": .ints([1, gs[1], gs[2], 1]), "values": .floats(counts)])
        let ones = try c.op(.constant, [], ["shape": .ints([k[0], k[1], 1, xs[3]]), "value": .float(1)])
        let attrs: Attributes = ["input_size": .ints([xs[1], xs[2]]), "stride": .ints(s), "padding": .ints(p),
                                 "dilation": .ints([1, 1]), "groups": .int(xs[3])]
        return [try c.op(.conv2d_backward_input, [try c.div(g, count), ones], attrs)]
    }
}

extension VJP {
    /// linear_attention: one linear_attention_backward op; a missing final-state cotangent is zero.
    static func linearAttention(_ n: Node, _ g: [ValueID], _ c: GradContext) throws -> [ValueID?] {
        let a = n.attributes
        let gate = LinearAttentionGate(rawValue: a.symbol("gate")) ?? .none
        let hasH0 = n.inputs.count > 3 + (gate.hasGateOperand ? 1 : 0)
        let qs = c.shape(n.inputs[0]), dv = c.shape(n.inputs[2])[3]
        // Result 1 is the final state only with final_state = true (a save_states result carries
        // no gradient: it is read only by a backward op).
        let dstate = a.bool("final_state") && g.count > 1 ? g[1] : try c.zeros(TensorType(.f32, [qs[0], qs[2], qs[3], dv]))
        let outs = try c.b.add(.linear_attention_backward, n.inputs + [g[0], dstate],
                               attributes: ["gate": a["gate"]!, "scale": a["scale"]!, "has_h0": .bool(hasH0),
                                            "chunk": .int(a["chunk"]?.intValue ?? 0)])
        return outs.map { Optional($0) }
    }
}
