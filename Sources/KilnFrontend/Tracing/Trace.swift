import KilnIR

/// A traced model: its Graph IR function and the seeded initial value of every parameter,
/// in signature order.
public struct TracedModel {
    public var function: Function
    public var parameters: [(name: String, tensor: HostTensor)]
}

/// Traces `layer` applied to one input named `x` into a verified Graph IR function.
///
/// Parameters become `param` arguments named by their dotted paths and get initial values
/// from `seed` and their path. Shape and type errors are thrown as `TraceError`s naming the
/// layer path and both shapes.
public func trace(_ layer: some Layer, input: TensorType, name: String, seed: UInt64 = 0) throws -> TracedModel {
    let inventory = LayerInventory(layer)
    let tracer = Tracer(name: name, layerTypes: inventory.layerTypes)
    let x = try tracer.builder.addInput("x", input)
    var values: [(name: String, tensor: HostTensor)] = []
    for (path, p) in inventory.unique {
        p.path = path
        tracer.bound[ObjectIdentifier(p)] = try tracer.builder.addParam(path, p.type)
        values.append((path, p.initialValues(seed: seed)))
    }
    let y = tracer.activate { layer(Tensor(tracer: tracer, id: x, type: input)) }
    if let error = tracer.error { throw error }
    let function = tracer.builder.finish(results: [y.id])
    try function.verify()
    return TracedModel(function: function, parameters: values)
}

/// Applies `body` `count` times with shared weights. Traces to ONE `repeat` node whose body
/// is traced once; the body's parameters are captured operands (still named by path).
public struct Repeat<Body: Layer>: Layer {
    public var body: Body
    public let count: Int

    public init(count: Int, _ body: Body) {
        self.count = count
        self.body = body
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let outer = x.tracer
        let params = LayerInventory(body).unique.map(\.parameter)
        let inner = Tracer(name: "body", layerTypes: outer.layerTypes)
        let y: Tensor
        do {
            let xin = try inner.builder.addInput("x", x.type)
            for p in params {
                inner.bound[ObjectIdentifier(p)] = try inner.builder.addInput(p.path ?? "p\(inner.bound.count)", p.type)
            }
            y = inner.activate { body(Tensor(tracer: inner, id: xin, type: x.type)) }
        } catch {
            if outer.error == nil { outer.error = error }
            return x
        }
        if let e = inner.error {
            if outer.error == nil { outer.error = e }
            return x
        }
        let region = inner.builder.finish(results: [y.id])
        let captured = params.map { outer.value(of: $0) }
        return outer.emit(.repeat, [x] + captured, ["count": .int(count)], regions: [region], params: params)[0]
    }
}
