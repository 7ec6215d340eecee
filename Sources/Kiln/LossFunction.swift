/// Turns a model into a scalar loss for `kiln grad` and `kiln dump --grad`: a model that
/// already returns a scalar f32 keeps it; otherwise the loss is sum(y * y) / 2 of its first result.
public enum LossFunction {
    public static func wrap(_ f: Function) throws -> (function: Function, description: String) {
        if let r = f.results.first, f.type(of: r) == TensorType(.f32, []) { return (f, "the model's own scalar result") }
        let b = FunctionBuilder(name: f.name + "_loss")
        let y = try b.appendCopy(of: f)[0]
        let sq = try b.add1(.mul, [y, y])
        let total = try b.add1(.reduce_sum, [sq], attributes: ["axes": .ints(Array(0..<b.type(of: y).rank))])
        let half = try b.add1(.constant, [], attributes: ["shape": .ints([]), "value": .float(0.5)])
        return (b.finish(results: [try b.add1(.mul, [total, half])]), "sum(y * y) / 2 of the first result")
    }
}
