import KilnIR

/// Applies `body` `count` times with shared weights (a recursive or universal transformer).
///
/// Traces to ONE `repeat` node: the body is traced once, into the node's region, whose
/// arguments are the carried value and then the body's parameters. Those parameters are
/// captured operands of the node, `param`s of the outer function under their dotted paths
/// (`body.fc1.weight`), so the weights exist once however large `count` is.
public struct Repeat<Body: Layer>: Layer {
    public var body: Body
    public let count: Int

    public init(count: Int, _ body: Body) {
        self.count = count
        self.body = body
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let outer = x.tracer
        let params = LayerInventory(body).parameters.map(\.parameter)
        // The body tracer shares the outer names, so body errors and arguments use full paths.
        let inner = Tracer(name: "body", names: outer.names, layerTypes: outer.layerTypes)
        let y: Tensor
        do {
            let xin = try inner.builder.addInput("x", x.type)
            for p in params { try inner.bind(p, asParam: false) }
            y = inner.activate { body(Tensor(tracer: inner, id: xin, type: x.type)) }
        } catch {
            outer.fail(error.message)
            return x
        }
        if let e = inner.error {
            outer.adopt(e)
            return x
        }
        let region = inner.builder.finish(results: [y.id])
        let captured = params.map { outer.value(of: $0) }
        return outer.emit(.repeat, [x] + captured, ["count": .int(count)], regions: [region], params: params)[0]
    }
}
