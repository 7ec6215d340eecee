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
