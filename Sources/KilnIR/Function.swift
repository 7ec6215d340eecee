/// Identifies a value inside one `Function` (an index into `Function.values`).
public struct ValueID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "v\(index)" }
}

/// What a value is: a runtime input, a named parameter (weight), or a node result.
public enum ValueRole: String, Sendable, Hashable {
    case input, param, intermediate
}

/// A value's static facts. Names are unique within a function; parameters use dotted
/// paths (`blocks.0.dwconv.weight`) so weights bind by name from `.safetensors`.
public struct ValueInfo: Hashable, Sendable {
    public var type: TensorType
    public var name: String
    public var role: ValueRole

    public init(type: TensorType, name: String, role: ValueRole) {
        self.type = type
        self.name = name
        self.role = role
    }
}

/// One operation: `%3, %4 = split %2 {axis = 1, sizes = [2,2]} : f32[..], f32[..]`.
public struct Node: Hashable, Sendable {
    public var op: OpKind
    public var inputs: [ValueID]
    public var outputs: [ValueID]
    public var attributes: Attributes
    /// Nested bodies for `repeat` and `fused`; closed (they see only their arguments).
    public var regions: [Function]
    /// Where the node was written, when it came from text.
    public var location: SourceLocation?

    public init(op: OpKind, inputs: [ValueID], outputs: [ValueID], attributes: Attributes = [:],
                regions: [Function] = [], location: SourceLocation? = nil) {
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.regions = regions
        self.location = location
    }

    // Locations are diagnostics only; two nodes that differ only in where they were written are equal.
    public static func == (a: Node, b: Node) -> Bool {
        a.op == b.op && a.inputs == b.inputs && a.outputs == b.outputs && a.attributes == b.attributes && a.regions == b.regions
    }
    public func hash(into h: inout Hasher) {
        h.combine(op); h.combine(inputs); h.combine(outputs); h.combine(attributes); h.combine(regions)
    }
}

/// A Graph IR function in SSA form with ops in topological order. A model is one
/// function; `repeat` and `fused` nodes carry nested functions as their bodies.
public struct Function: Hashable, Sendable {
    public var name: String
    public var values: [ValueInfo]
    /// Inputs and parameters in signature order.
    public var arguments: [ValueID]
    public var nodes: [Node]
    public var results: [ValueID]

    public init(name: String, values: [ValueInfo] = [], arguments: [ValueID] = [], nodes: [Node] = [], results: [ValueID] = []) {
        self.name = name
        self.values = values
        self.arguments = arguments
        self.nodes = nodes
        self.results = results
    }

    public func type(of v: ValueID) -> TensorType { values[v.index].type }
    public func name(of v: ValueID) -> String { values[v.index].name }
    public func role(of v: ValueID) -> ValueRole { values[v.index].role }

    /// Runtime inputs, in signature order.
    public var inputs: [ValueID] { arguments.filter { role(of: $0) == .input } }
    /// Parameters (weights), in signature order.
    public var params: [ValueID] { arguments.filter { role(of: $0) == .param } }

    /// The value with this name, if any.
    public func value(named name: String) -> ValueID? {
        values.firstIndex { $0.name == name }.map(ValueID.init)
    }

    /// For each value, the index of the node that defines it (nil for arguments).
    public func producers() -> [Int?] {
        var p = [Int?](repeating: nil, count: values.count)
        for (i, n) in nodes.enumerated() { for o in n.outputs { p[o.index] = i } }
        return p
    }

    /// For each value, the indices of the nodes that read it.
    public func users() -> [[Int]] {
        var u = [[Int]](repeating: [], count: values.count)
        for (i, n) in nodes.enumerated() { for v in n.inputs { u[v.index].append(i) } }
        return u
    }

    /// Total parameter count (elements), for `kiln models`.
    public var parameterCount: Int { params.reduce(0) { $0 + type(of: $1).elementCount } }

    /// FLOPs of one evaluation from the op table's cost rules (repeat bodies counted `count` times).
    public var flops: Double {
        nodes.reduce(0) { total, n in
            let ins = n.inputs.map(type(of:)), outs = n.outputs.map(type(of:))
            var f = n.op.info.flops(ins, outs, n.attributes)
            if let body = n.regions.first {
                f += body.flops * Double(n.op == .repeat ? n.attributes.int("count") : 1)
            }
            return total + f
        }
    }
}
