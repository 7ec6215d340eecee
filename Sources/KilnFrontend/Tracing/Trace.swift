import KilnIR

/// A traced model: its Graph IR function and the seeded initial value of every parameter,
/// in signature order (the same order as `function.params`).
public struct TracedModel {
    public var function: Function
    public var parameters: [(name: String, tensor: HostTensor)]

    public init(function: Function, parameters: [(name: String, tensor: HostTensor)]) {
        self.function = function
        self.parameters = parameters
    }

    /// Total number of parameter elements.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.tensor.shape.reduce(1, *) } }
}

/// Traces `layer` applied to one input named `x` into a verified Graph IR function.
///
/// Parameters are found by reflection (`LayerInventory`), become `param` arguments named
/// by their dotted paths in declaration order, and get initial values from `seed` and
/// their path. A shape or type error anywhere in the layer is thrown as a `TraceError`
/// naming the layer path and both shapes.
public func trace(_ layer: some Layer, input: TensorType, name: String = "model", seed: UInt64 = 0) throws -> TracedModel {
    let inventory = LayerInventory(layer)
    let tracer = Tracer(name: name, names: inventory.names, layerTypes: inventory.layerTypes)
    let x = try tracer.builder.addInput("x", input)
    for (_, p) in inventory.parameters { try tracer.bind(p, asParam: true) }
    let y = tracer.activate { layer(Tensor(tracer: tracer, id: x, type: input)) }
    if let error = tracer.error { throw error }
    guard y.tracer === tracer else { throw TraceError(message: "the layer returned a tensor that does not belong to this trace") }
    let function = tracer.builder.finish(results: [y.id])
    try function.verify()
    // Values last: drawing millions of weights is the slow part, and a failed trace needs none.
    let values = try inventory.parameters.map { path, p throws(TraceError) in (path, try p.initialValues(seed: seed, name: path)) }
    return TracedModel(function: function, parameters: values)
}
