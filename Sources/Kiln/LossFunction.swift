/// Turns a model into a scalar loss for `kiln grad` and `kiln dump --grad`: a model that
/// already returns a scalar f32 keeps it; otherwise the loss is sum(y * y) / 2 of its first result.
public enum LossFunction {
    public static func wrap(_ f: Function) throws -> (function: Function, description: String) {
        if let r = f.results.first, f.type(of: r) == TensorType(.f32, []) { return (f, "the model's own scalar result") }
        let b = FunctionBuilder(name: f.name + "_loss")
        var map: [ValueID: ValueID] = [:]
        for a in f.arguments {
            map[a] = f.role(of: a) == .param ? try b.addParam(f.name(of: a), f.type(of: a)) : try b.addInput(f.name(of: a), f.type(of: a))
        }
        for n in f.nodes {
            for (o, v) in zip(n.outputs, try b.add(n.op, n.inputs.map { map[$0]! }, attributes: n.attributes, regions: n.regions)) { map[o] = v }
        }
        let y = map[f.results[0]]!
        let sq = try b.add1(.mul, [y, y])
        let total = try b.add1(.reduce_sum, [sq], attributes: ["axes": .ints(Array(0..<b.type(of: y).rank))])
        let half = try b.add1(.constant, [], attributes: ["shape": .ints([]), "value": .float(0.5)])
        return (b.finish(results: [try b.add1(.mul, [total, half])]), "sum(y * y) / 2 of the first result")
    }
}
