import KilnIR

/// Emits the ops a VJP rule needs into the gradient function, with small helpers
/// (arithmetic, constants, summing a broadcast cotangent back to an operand's shape).
final class GradContext {
    let b: FunctionBuilder

    init(_ b: FunctionBuilder) { self.b = b }

    func type(_ v: ValueID) -> TensorType { b.type(of: v) }
    func shape(_ v: ValueID) -> [Int] { b.type(of: v).shape }

    func op(_ k: OpKind, _ ins: [ValueID], _ attrs: Attributes = [:]) throws -> ValueID { try b.add1(k, ins, attributes: attrs) }
    func add(_ x: ValueID, _ y: ValueID) throws -> ValueID { try op(.add, [x, y]) }
    func sub(_ x: ValueID, _ y: ValueID) throws -> ValueID { try op(.sub, [x, y]) }
    func mul(_ x: ValueID, _ y: ValueID) throws -> ValueID { try op(.mul, [x, y]) }
    func div(_ x: ValueID, _ y: ValueID) throws -> ValueID { try op(.div, [x, y]) }
    func neg(_ x: ValueID) throws -> ValueID { try op(.neg, [x]) }
    func scalar(_ v: Double) throws -> ValueID { try op(.constant, [], ["shape": .ints([]), "value": .float(v)]) }
    func zeros(_ t: TensorType) throws -> ValueID { try op(.constant, [], ["shape": .ints(t.shape), "value": .float(0)]) }
    func scale(_ x: ValueID, _ v: Double) throws -> ValueID { try mul(x, try scalar(v)) }
    func reshape(_ x: ValueID, _ s: [Int]) throws -> ValueID { shape(x) == s ? x : try op(.reshape, [x], ["shape": .ints(s)]) }

    func sum(_ x: ValueID, axes: [Int], keepdims: Bool) throws -> ValueID {
        try op(.reduce_sum, [x], ["axes": .ints(axes), "keepdims": .bool(keepdims)])
    }
    func mean(_ x: ValueID, axes: [Int], keepdims: Bool) throws -> ValueID {
        try op(.reduce_mean, [x], ["axes": .ints(axes), "keepdims": .bool(keepdims)])
    }

    /// Sums a cotangent that was broadcast from `target` back to `target`'s shape.
    func sumTo(_ g: ValueID, _ target: [Int]) throws -> ValueID {
        let gs = shape(g)
        if gs == target { return g }
        let lead = gs.count - target.count
        var axes = Array(0..<lead)
        for i in lead..<gs.count where target[i - lead] == 1 && gs[i] != 1 { axes.append(i) }
        let summed = axes.isEmpty ? g : try sum(g, axes: axes, keepdims: false)
        return try reshape(summed, target)
    }

    /// Broadcasts `x` to `s` (no-op when equal).
    func broadcast(_ x: ValueID, _ s: [Int]) throws -> ValueID {
        shape(x) == s ? x : try op(.broadcast, [x], ["shape": .ints(s)])
    }

    /// Every axis but the last, for per-channel sums.
    func leadingAxes(_ x: ValueID) -> [Int] { Array(0..<max(shape(x).count - 1, 0)) }
}
