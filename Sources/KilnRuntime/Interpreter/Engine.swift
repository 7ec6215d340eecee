import KilnIR

/// Executes a function node by node; one instance per precision.
struct Engine<S: InterpScalar> {
    func run(_ f: Function, _ args: [Buffer<S>]) throws -> [Buffer<S>] {
        var env = [Buffer<S>?](repeating: nil, count: f.values.count)
        for (a, v) in zip(f.arguments, args) { env[a.index] = v }
        for node in f.nodes {
            let ins = node.inputs.map { env[$0.index]! }
            let inTypes = node.inputs.map(f.type(of:)), outTypes = node.outputs.map(f.type(of:))
            let outs = try execute(node, ins, inTypes, outTypes)
            for (o, v) in zip(node.outputs, outs) { env[o.index] = v }
        }
        return f.results.map { env[$0.index]! }
    }

    func execute(_ n: Node, _ ins: [Buffer<S>], _ it: [TensorType], _ ot: [TensorType]) throws -> [Buffer<S>] {
        let a = n.attributes
        let x = ins.first?.floats ?? []
        switch n.op {
        case .constant:
            let t = ot[0]
            let vals = a.floats("values")
            let data = vals.isEmpty ? [Double](repeating: a.float("value"), count: t.elementCount) : vals
            return [t.dtype == .i32 ? .int(data.map { Int32($0) }) : .float(data.map { S($0) })]
        case .neg, .exp, .log, .sqrt, .rsqrt, .tanh, .sigmoid, .logsigmoid, .relu, .relu6, .gelu, .silu, .softplus, .abs, .erf, .step:
            return [.float(Kernels<S>.unary(n.op, x, tanhGelu: a.symbol("approximate") == "tanh"))]
        case .add, .sub, .mul, .div, .max, .min:
            return [.float(Kernels<S>.binary(n.op, x, it[0].shape, ins[1].floats, it[1].shape, ot[0].shape))]
        case .matmul:
            return [.float(Kernels<S>.matmul(x, it[0].shape, ins[1].floats, it[1].shape, ot[0].shape))]
        case .linear:
            return [.float(Kernels<S>.linear(x, ins[1].floats, ins.count > 2 ? ins[2].floats : nil, k: it[1].shape[0], n: it[1].shape[1]))]
        case .embedding:
            guard case .int(let ids) = ins[1] else { throw RuntimeError("embedding: ids must be i32") }
            return [.float(try Kernels<S>.embedding(x, rows: it[0].shape[0], dim: it[0].shape[1], ids))]
        case .conv2d:
            return [.float(Kernels<S>.conv2d(x, it[0].shape, ins[1].floats, it[1].shape, ins.count > 2 ? ins[2].floats : nil, ot[0].shape, a))]
        case .conv1d:
            return [.float(Kernels<S>.conv1d(x, it[0].shape, ins[1].floats, it[1].shape, ins.count > 2 ? ins[2].floats : nil, ot[0].shape, a))]
        case .conv2d_backward_input:
            return [.float(Kernels<S>.conv2dBackwardInput(x, it[0].shape, ins[1].floats, it[1].shape, ot[0].shape, a))]
        case .conv2d_backward_weight:
            return [.float(Kernels<S>.conv2dBackwardWeight(x, it[0].shape, ins[1].floats, it[1].shape, a.ints("kernel"), a))]
        case .max_pool2d_backward:
            return [.float(Kernels<S>.maxPoolBackward(x, it[0].shape, ins[1].floats, it[1].shape, a))]
        case .embedding_backward:
            guard case .int(let ids) = ins[0] else { throw RuntimeError("embedding_backward: ids must be i32") }
            return [.float(try Kernels<S>.embeddingBackward(ids, ins[1].floats, rows: a.int("rows"), dim: it[1].shape.last!))]
        case .max_pool2d, .avg_pool2d:
            return [.float(Kernels<S>.pool(n.op == .max_pool2d, x, it[0].shape, ot[0].shape, a))]
        case .layer_norm:
            return [.float(Kernels<S>.layerNorm(x, c: it[0].shape.last!, ins.count > 1 ? ins[1].floats : nil, ins.count > 2 ? ins[2].floats : nil, eps: S(a.float("eps"))))]
        case .rms_norm:
            return [.float(Kernels<S>.rmsNorm(x, c: it[0].shape.last!, ins.count > 1 ? ins[1].floats : nil, eps: S(a.float("eps"))))]
        case .batch_norm:
            return [.float(Kernels<S>.batchNorm(x, c: it[0].shape.last!, ins[1].floats, ins[2].floats, ins[3].floats, ins[4].floats,
                                                eps: S(a.float("eps")), training: a.bool("training")))]
        case .softmax, .log_softmax:
            let axis = try normalizeAxis(a.int("axis"), rank: it[0].rank, op: n.op.rawValue)
            return [.float(Kernels<S>.softmax(x, it[0].shape, axis: axis, log: n.op == .log_softmax))]
        case .reduce_sum, .reduce_mean, .reduce_max:
            let axes = try a.ints("axes").map { try normalizeAxis($0, rank: it[0].rank, op: n.op.rawValue) }
            return [.float(Kernels<S>.reduce(n.op, x, it[0].shape, axes: Set(axes)))]
        case .reshape:
            return [ins[0]]
        case .permute:
            return [Layout.permute(ins[0], it[0].shape, a.ints("perm"))]
        case .slice:
            let axis = try normalizeAxis(a.int("axis"), rank: it[0].rank, op: "slice")
            return [Layout.slice(ins[0], it[0].shape, axis: axis, start: a.int("start"), step: a.int("step"), count: ot[0].shape[axis])]
        case .concat:
            let axis = try normalizeAxis(a.int("axis"), rank: it[0].rank, op: "concat")
            return [Layout.concat(ins, it.map(\.shape), axis: axis)]
        case .split:
            let axis = try normalizeAxis(a.int("axis"), rank: it[0].rank, op: "split")
            var start = 0
            return ot.map { t in
                defer { start += t.shape[axis] }
                return Layout.slice(ins[0], it[0].shape, axis: axis, start: start, step: 1, count: t.shape[axis])
            }
        case .broadcast:
            return [Layout.broadcast(ins[0], it[0].shape, ot[0].shape)]
        case .cumsum:
            let axis = try normalizeAxis(a.int("axis"), rank: it[0].rank, op: "cumsum")
            return [.float(Kernels<S>.cumsum(x, it[0].shape, axis: axis, reverse: a.bool("reverse"), exclusive: a.bool("exclusive")))]
        case .linear_attention:
            // chunk > 0 selects the chunkwise schedule; both compute the same function.
            if a.int("chunk") > 0 {
                var audit = ExpAudit()
                return ChunkwiseLinearAttention<S>.run(ins.map(\.floats), it, a, audit: &audit)
            }
            return LinearAttention<S>.run(ins.map(\.floats), it, a)
        case .linear_attention_backward:
            if a.int("chunk") > 0 {
                var audit = ExpAudit()
                return ChunkwiseLinearAttention<S>.backward(ins.map(\.floats), it, a, audit: &audit)
            }
            return LinearAttention<S>.backward(ins.map(\.floats), it, a)
        case .repeat:
            var state = ins[0]
            for _ in 0..<a.int("count") { state = try run(n.regions[0], [state] + ins.dropFirst())[0] }
            return [state]
        case .fused:
            return try run(n.regions[0], ins)
        }
    }
}
