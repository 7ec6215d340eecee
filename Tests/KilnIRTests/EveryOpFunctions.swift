@testable import KilnIR

/// Functions that together use every OpKind, for round-trip and printer tests.
enum EveryOp {
    static func all() throws -> [Function] {
        [try images(), try sequences(), try attention(), try regions()]
    }

    static func images() throws -> Function {
        let b = FunctionBuilder(name: "images")
        let x = try b.addInput("x", .f32(2, 9, 9, 8))
        let w = try b.addParam("conv.weight", .f32(3, 3, 2, 8))
        let bias = try b.addParam("conv.bias", .f32(8))
        let g = try b.addParam("bn.gamma", .f32(8)), be = try b.addParam("bn.beta", .f32(8))
        let m = try b.addParam("bn.mean", .f32(8)), v = try b.addParam("bn.var", .f32(8))
        var y = try b.add1(.conv2d, [x, w, bias], attributes: ["padding": .ints([1, 1, 0, 2]), "stride": .ints([2, 1]), "groups": .int(4), "dilation": .ints([1, 2])])
        let gx = try b.add1(.conv2d_backward_input, [y, w], attributes: ["input_size": .ints([9, 9]), "padding": .ints([1, 1, 0, 2]),
                                                                         "stride": .ints([2, 1]), "groups": .int(4), "dilation": .ints([1, 2])])
        let gw = try b.add1(.conv2d_backward_weight, [x, y], attributes: ["kernel": .ints([3, 3]), "padding": .ints([1, 1, 0, 2]),
                                                                           "stride": .ints([2, 1]), "groups": .int(4), "dilation": .ints([1, 2])])
        y = try b.add1(.mul, [y, try b.add1(.reduce_sum, [try b.add1(.add, [try b.add1(.reduce_sum, [gx], attributes: ["axes": .ints([0, 1, 2, 3])]),
                                                                            try b.add1(.reduce_sum, [gw], attributes: ["axes": .ints([0, 1, 2, 3])])])],
                                                        attributes: ["axes": .ints([])])])
        y = try b.add1(.batch_norm, [y, g, be, m, v], attributes: ["training": .bool(true)])
        y = try b.add1(.max_pool2d, [y], attributes: ["window": .ints([2, 2]), "stride": .ints([1, 1]), "padding": .ints([1, 0, 1, 0])])
        let pooled = try b.add1(.max_pool2d, [y], attributes: ["window": .ints([2, 2]), "stride": .ints([2, 2])])
        y = try b.add1(.max_pool2d_backward, [y, pooled], attributes: ["window": .ints([2, 2]), "stride": .ints([2, 2])])
        y = try b.add1(.avg_pool2d, [y], attributes: ["window": .ints([2, 2]), "stride": .ints([2, 2])])
        for op in [OpKind.neg, .exp, .log, .sqrt, .rsqrt, .tanh, .sigmoid, .logsigmoid, .relu, .relu6, .silu, .softplus, .abs, .erf, .step] {
            y = try b.add1(op, [y])
        }
        y = try b.add1(.gelu, [y], attributes: ["approximate": .symbol("tanh")])
        let c = try b.add1(.constant, [], attributes: ["shape": .ints([]), "value": .float(0.5)])
        for op in [OpKind.add, .sub, .mul, .div, .max, .min] { y = try b.add1(op, [y, c]) }
        y = try b.add1(.reduce_mean, [y], attributes: ["axes": .ints([1, 2]), "keepdims": .bool(true)])
        y = try b.add1(.reduce_max, [y], attributes: ["axes": .ints([-1])])
        y = try b.add1(.reduce_sum, [y], attributes: ["axes": .ints([0])])
        return b.finish(results: [y])
    }

    static func sequences() throws -> Function {
        let b = FunctionBuilder(name: "sequences")
        let x = try b.addInput("x", .f32(1, 12, 6))
        let ids = try b.addInput("ids", .i32(1, 12))
        let table = try b.addParam("emb.weight", .f32(20, 6))
        let w = try b.addParam("tcn.weight", .f32(3, 6, 6))
        let lw = try b.addParam("fc.weight", .f32(6, 4)), lb = try b.addParam("fc.bias", .f32(4))
        let ln = try b.addParam("ln.weight", .f32(6))
        let emb = try b.add1(.embedding, [table, ids])
        let dtable = try b.add1(.embedding_backward, [ids, emb], attributes: ["rows": .int(20)])
        var y = try b.add1(.add, [x, try b.add1(.embedding, [dtable, ids])])
        y = try b.add1(.conv1d, [y, w], attributes: ["padding": .ints([4, 0]), "dilation": .int(2)])
        y = try b.add1(.layer_norm, [y, ln], attributes: ["eps": .float(1e-6)])
        y = try b.add1(.rms_norm, [y])
        y = try b.add1(.linear, [y, lw, lb])
        y = try b.add1(.softmax, [y], attributes: ["axis": .int(-1)])
        y = try b.add1(.log_softmax, [y], attributes: ["axis": .int(1)])
        y = try b.add1(.cumsum, [y], attributes: ["axis": .int(1), "reverse": .bool(true), "exclusive": .bool(true)])
        let t = try b.add1(.permute, [y], attributes: ["perm": .ints([0, 2, 1])])
        y = try b.add1(.matmul, [y, t])
        y = try b.add1(.reshape, [y], attributes: ["shape": .ints([12, 12])])
        let parts = try b.add(.split, [y], attributes: ["axis": .int(0), "sizes": .ints([5, 7])])
        y = try b.add1(.concat, [parts[1], parts[0]], attributes: ["axis": .int(0)])
        y = try b.add1(.slice, [y], attributes: ["axis": .int(1), "start": .int(1), "end": .int(11), "step": .int(3)])
        y = try b.add1(.broadcast, [y], attributes: ["shape": .ints([2, 12, 4])])
        let k = try b.add1(.constant, [], attributes: ["shape": .ints([4]), "values": .floats([1, -2.5, 3e-8, 0.1])])
        y = try b.add1(.mul, [y, k])
        return b.finish(results: [y, parts[0]])
    }

    static func attention() throws -> Function {
        let b = FunctionBuilder(name: "attention")
        let q = try b.addInput("q", .f32(1, 5, 2, 4)), k = try b.addInput("k", .f32(1, 5, 2, 4))
        let v = try b.addInput("v", .f32(1, 5, 2, 3))
        let gs = try b.addInput("g_scalar", .f32(1, 5, 2)), gk = try b.addInput("g_key", .f32(1, 5, 2, 4))
        let h0 = try b.addInput("h0", .f32(1, 2, 4, 3))
        var outs: [ValueID] = []
        outs += try b.add(.linear_attention, [q, k, v], attributes: ["scale": .float(0.5)])
        outs += try b.add(.linear_attention, [q, k, v, gs, h0], attributes: ["gate": .symbol("scalar"), "scale": .float(0.5), "final_state": .bool(true)])
        outs += try b.add(.linear_attention, [q, k, v, gk], attributes: ["gate": .symbol("key"), "scale": .float(0.5), "chunk": .int(16)])
        outs += try b.add(.linear_attention, [q, k, v, gs, h0], attributes: ["gate": .symbol("delta"), "scale": .float(1)])
        let dS = try b.add1(.constant, [], attributes: ["shape": .ints([1, 2, 4, 3]), "value": .float(0.5)])
        outs += try b.add(.linear_attention_backward, [q, k, v, gk, outs[0], dS], attributes: ["gate": .symbol("key"), "scale": .float(0.5)])
        return b.finish(results: outs)
    }

    static func regions() throws -> Function {
        let body = FunctionBuilder(name: "body")
        let h = try body.addInput("h", .f32(3, 4))
        let bw = try body.addInput("w", .f32(4, 4))
        let inner = try body.add1(.tanh, [try body.add1(.matmul, [h, bw])])
        let bodyFn = body.finish(results: [inner])
        let fusedBody = FunctionBuilder(name: "fused_body")
        let a = try fusedBody.addInput("a", .f32(3, 4))
        let fb = fusedBody.finish(results: [try fusedBody.add1(.relu, [a]), try fusedBody.add1(.exp, [a])])

        let b = FunctionBuilder(name: "regions")
        let x = try b.addInput("x", .f32(3, 4))
        let w = try b.addParam("shared.w", .f32(4, 4))
        let y = try b.add1(.repeat, [x, w], attributes: ["count": .int(3)], regions: [bodyFn])
        let f = try b.add(.fused, [y], attributes: ["tile": .ints([1, 4]), "note": .symbol("demo")], regions: [fb])
        return b.finish(results: f)
    }
}
