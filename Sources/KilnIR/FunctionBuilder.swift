/// Builds a `Function` one node at a time, checking every node against the op table.
///
/// Intermediate values are named `0`, `1`, ... in creation order; arguments keep the
/// names given (dotted paths for parameters).
public final class FunctionBuilder {
    public private(set) var function: Function
    private var names: Set<String> = []
    private var counter = 0

    public init(name: String) {
        function = Function(name: name)
    }

    /// Adds a runtime input to the signature.
    @discardableResult
    public func addInput(_ name: String, _ type: TensorType) throws(IRError) -> ValueID {
        try addArgument(name, type, role: .input)
    }

    /// Adds a named parameter (weight) to the signature.
    @discardableResult
    public func addParam(_ name: String, _ type: TensorType) throws(IRError) -> ValueID {
        try addArgument(name, type, role: .param)
    }

    private func addArgument(_ name: String, _ type: TensorType, role: ValueRole) throws(IRError) -> ValueID {
        try type.validate()
        guard !name.isEmpty, names.insert(name).inserted else {
            throw IRError(name.isEmpty ? "argument name is empty" : "value '%\(name)' is defined twice")
        }
        let id = ValueID(function.values.count)
        function.values.append(ValueInfo(type: type, name: name, role: role))
        function.arguments.append(id)
        return id
    }

    /// Type of a value built so far.
    public func type(of v: ValueID) -> TensorType { function.type(of: v) }

    /// Appends a node; fills attribute defaults, infers and returns its results.
    @discardableResult
    public func add(_ op: OpKind, _ inputs: [ValueID], attributes: Attributes = [:], regions: [Function] = []) throws(IRError) -> [ValueID] {
        for v in inputs where v.index < 0 || v.index >= function.values.count {
            throw IRError("\(op): operand \(v) does not belong to function @\(function.name)")
        }
        let (attrs, types) = try op.info.check(inputs: inputs.map(type(of:)), attributes: attributes, regions: regions)
        var outs: [ValueID] = []
        for t in types {
            while names.contains(String(counter)) { counter += 1 }
            let name = String(counter)
            counter += 1
            names.insert(name)
            outs.append(ValueID(function.values.count))
            function.values.append(ValueInfo(type: t, name: name, role: .intermediate))
        }
        function.nodes.append(Node(op: op, inputs: inputs, outputs: outs, attributes: attrs, regions: regions))
        return outs
    }

    /// Appends a single-result node and returns its result.
    public func add1(_ op: OpKind, _ inputs: [ValueID], attributes: Attributes = [:], regions: [Function] = []) throws(IRError) -> ValueID {
        let outs = try add(op, inputs, attributes: attributes, regions: regions)
        guard outs.count == 1 else { throw IRError("\(op) has \(outs.count) results where one was expected") }
        return outs[0]
    }

    /// Sets the results and returns the finished function.
    public func finish(results: [ValueID]) -> Function {
        function.results = results
        return function
    }
}

extension FunctionBuilder {
    /// Adds `f`'s arguments (same names and roles) and nodes to this builder and returns the
    /// builder values of `f`'s results: the start of any function that extends a model
    /// (a loss, a gradient).
    public func appendCopy(of f: Function) throws(IRError) -> [ValueID] {
        var map: [ValueID: ValueID] = [:]
        for a in f.arguments {
            map[a] = f.role(of: a) == .param ? try addParam(f.name(of: a), f.type(of: a)) : try addInput(f.name(of: a), f.type(of: a))
        }
        for n in f.nodes {
            let outs = try add(n.op, n.inputs.map { map[$0]! }, attributes: n.attributes, regions: n.regions)
            for (o, v) in zip(n.outputs, outs) { map[o] = v }
        }
        return f.results.map { map[$0]! }
    }
}
