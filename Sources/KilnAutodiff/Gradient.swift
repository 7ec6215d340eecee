import KilnIR

/// Reverse-mode differentiation on Graph IR.
///
/// `gradient(of: f, wrt: names)` returns a function with `f`'s arguments whose results are
/// the loss (f's first result, which must be a scalar f32) followed by d loss / d arg for each
/// name in `wrt`, in that order. The result is ordinary Graph IR: it prints, parses, runs in
/// the interpreter and compiles. `fused` regions are inlined and `repeat` is unrolled in the
/// gradient function, so shared weights get the sum of their per-application gradients.
public func gradient(of f: Function, wrt: [String]) throws -> Function {
    try gradientWithReport(of: f, wrt: wrt).function
}

/// A gradient function and what its backward part keeps from the forward part.
public struct GradientReport {
    public var function: Function
    /// Forward values (by name in `function`) that backward ops read: what must be kept alive.
    public var savedValues: [String]
    /// Cheap pointwise forward values the backward part recomputes instead of keeping.
    public var recomputedValues: [String]
    /// Number of nodes in the forward and backward parts.
    public var forwardNodes: Int
    public var backwardNodes: Int
}

/// `gradient(of:wrt:)` plus which forward values the backward part uses.
public func gradientWithReport(of f: Function, wrt: [String]) throws -> GradientReport {
    try f.verify()
    guard let loss = f.results.first, f.type(of: loss) == TensorType(.f32, []) else {
        let got = f.results.first.map { f.type(of: $0).description } ?? "nothing"
        throw IRError("gradient: @\(f.name) must return a scalar f32[] loss first, but returns \(got); reduce it (e.g. reduce_sum) first")
    }
    var targets: [ValueID] = []
    for name in wrt {
        guard let v = f.value(named: name), f.arguments.contains(v) else {
            let names = f.arguments.map { f.name(of: $0) }.joined(separator: ", ")
            throw IRError("gradient: '\(name)' is not an argument of @\(f.name) (arguments: \(names))")
        }
        guard f.type(of: v).dtype == .f32 else { throw IRError("gradient: '\(name)' is \(f.type(of: v)); only f32 arguments have gradients") }
        targets.append(v)
    }
    let b = FunctionBuilder(name: f.name + "_grad")
    var map: [ValueID: ValueID] = [:]
    for a in f.arguments {
        map[a] = f.role(of: a) == .param ? try b.addParam(f.name(of: a), f.type(of: a)) : try b.addInput(f.name(of: a), f.type(of: a))
    }
    // Forward: replay, inlining regions so every node has a VJP rule over plain values.
    var tape: [Node] = []
    try replay(f, into: b, &map, &tape)
    let ctx = GradContext(b)
    var cot: [ValueID: ValueID] = [map[loss]!: try ctx.scalar(1)]
    for node in tape.reversed() {
        let outCots = node.outputs.map { cot[$0] }
        if outCots.allSatisfy({ $0 == nil }) { continue }
        let filled = try zip(node.outputs, outCots).map { o, g in try g ?? ctx.zeros(b.type(of: o)) }
        let inCots = try VJP.rule(node, filled, ctx)
        for (input, g) in zip(node.inputs, inCots) {
            guard let g, b.type(of: input).dtype == .f32 else { continue }
            cot[input] = try cot[input].map { try ctx.add($0, g) } ?? g
        }
    }
    var results = [map[loss]!]
    for t in targets { results.append(try cot[map[t]!] ?? ctx.zeros(f.type(of: t))) }
    let (g, recomputed) = try rematerialize(b.finish(results: results), forwardCount: tape.count)
    try g.verify()
    let forwardCount = tape.count
    var forwardValues = Set<ValueID>()
    for n in g.nodes.prefix(forwardCount) { forwardValues.formUnion(n.outputs) }
    var saved = Set<ValueID>()
    for n in g.nodes.dropFirst(forwardCount) { for v in n.inputs where forwardValues.contains(v) { saved.insert(v) } }
    return GradientReport(function: g, savedValues: saved.sorted().map { g.name(of: $0) }, recomputedValues: recomputed,
                          forwardNodes: forwardCount, backwardNodes: g.nodes.count - forwardCount)
}

/// Rebuilds `g` so backward nodes recompute cheap pointwise forward values (elementwise ops,
/// constants, reshapes, broadcasts) from their operands instead of reading them: the backward
/// part then keeps only the operands (often already kept) and the expensive results.
private func rematerialize(_ g: Function, forwardCount: Int) throws -> (Function, [String]) {
    let cheap: Set<OpCategory> = [.unary, .binary, .source]
    func isCheap(_ n: Node) -> Bool { cheap.contains(n.op.info.category) || n.op == .reshape || n.op == .broadcast }
    let producers = g.producers()
    let b = FunctionBuilder(name: g.name)
    var map: [ValueID: ValueID] = [:]
    for a in g.arguments {
        map[a] = g.role(of: a) == .param ? try b.addParam(g.name(of: a), g.type(of: a)) : try b.addInput(g.name(of: a), g.type(of: a))
    }
    for n in g.nodes.prefix(forwardCount) {
        for (o, v) in zip(n.outputs, try b.add(n.op, n.inputs.map { map[$0]! }, attributes: n.attributes, regions: n.regions)) { map[o] = v }
    }
    var clones: [ValueID: ValueID] = [:]
    var recomputed: [String] = []
    func backwardValue(_ v: ValueID) throws -> ValueID {
        guard let p = producers[v.index], p < forwardCount, isCheap(g.nodes[p]), g.nodes[p].outputs.count == 1 else { return map[v]! }
        if let c = clones[v] { return c }
        let n = g.nodes[p]
        let c = try b.add1(n.op, n.inputs.map { map[$0]! }, attributes: n.attributes)
        clones[v] = c
        recomputed.append(g.name(of: v))
        return c
    }
    for n in g.nodes.dropFirst(forwardCount) {
        let ins = try n.inputs.map(backwardValue)
        for (o, v) in zip(n.outputs, try b.add(n.op, ins, attributes: n.attributes, regions: n.regions)) { map[o] = v }
    }
    return (b.finish(results: g.results.map { map[$0]! }), recomputed.sorted())
}

/// Copies `f`'s nodes into `b` (values mapped through `map`), inlining `fused` bodies and
/// unrolling `repeat`, and records the copied nodes in order.
private func replay(_ f: Function, into b: FunctionBuilder, _ map: inout [ValueID: ValueID], _ tape: inout [Node]) throws {
    for node in f.nodes {
        let ins = node.inputs.map { map[$0]! }
        switch node.op {
        case .fused:
            let outs = try inline(node.regions[0], ins, into: b, &tape)
            for (o, v) in zip(node.outputs, outs) { map[o] = v }
        case .repeat:
            var state = ins[0]
            for _ in 0..<node.attributes.int("count") {
                state = try inline(node.regions[0], [state] + ins.dropFirst(), into: b, &tape)[0]
            }
            map[node.outputs[0]] = state
        default:
            let outs = try b.add(node.op, ins, attributes: node.attributes)
            tape.append(Node(op: node.op, inputs: ins, outputs: outs, attributes: node.attributes))
            for (o, v) in zip(node.outputs, outs) { map[o] = v }
        }
    }
}

private func inline(_ body: Function, _ args: [ValueID], into b: FunctionBuilder, _ tape: inout [Node]) throws -> [ValueID] {
    var inner: [ValueID: ValueID] = [:]
    for (a, v) in zip(body.arguments, args) { inner[a] = v }
    try replay(body, into: b, &inner, &tape)
    return body.results.map { inner[$0]! }
}
