import KilnIR

/// Records ops into a `FunctionBuilder` while a layer runs on symbolic tensors.
///
/// Errors never trap inside `callAsFunction`: the first one is kept (phrased with the
/// layer path), later ops return placeholders of plausible type, and `trace` throws it at
/// the end. A tracer is confined to the one thread running its trace; `current` is a task
/// local, so traces on different threads or tasks never see each other's tracer.
final class Tracer: @unchecked Sendable {
    /// The tracer parameters bind to and scalar constants are emitted into.
    @TaskLocal static var current: Tracer?

    let builder: FunctionBuilder
    /// The first error, already phrased with the layer path.
    private(set) var error: TraceError?
    /// Parameter object -> its value in this function.
    private var bound: [ObjectIdentifier: ValueID] = [:]
    /// Parameter object -> dotted name, shared with nested (repeat body) tracers.
    let names: [ObjectIdentifier: String]
    /// Layer path -> layer type name, for diagnostics ("blocks.1.expand" -> "Linear").
    let layerTypes: [String: String]
    /// The layer whose parameters were used most recently: the best guess for an error in
    /// an op without parameters (an activation or residual add just after that layer).
    private var lastLayer: String?

    init(name: String, names: [ObjectIdentifier: String], layerTypes: [String: String]) {
        builder = FunctionBuilder(name: name)
        self.names = names
        self.layerTypes = layerTypes
    }

    /// The active tracer; using tensors or parameters outside `trace` is a programming error.
    static var active: Tracer {
        guard let t = current else { preconditionFailure("Kiln tensors can only be used inside trace(...)") }
        return t
    }

    /// Runs `body` with this tracer active; the previous one is restored after.
    func activate<R>(_ body: () -> R) -> R { Tracer.$current.withValue(self, operation: body) }

    /// The dotted name trace() gave `p`, if it belongs to the traced layer.
    func name(of p: Parameter) -> String? { names[ObjectIdentifier(p)] }

    /// Makes `p` an argument of this function: a `param` at top level, an input of a body.
    func bind(_ p: Parameter, asParam: Bool) throws(IRError) {
        let name = name(of: p) ?? "p\(bound.count)"
        bound[ObjectIdentifier(p)] = asParam ? try builder.addParam(name, p.type) : try builder.addInput(name, p.type)
    }

    /// The value of a parameter in this function.
    func value(of p: Parameter) -> Tensor {
        if let id = bound[ObjectIdentifier(p)] { return Tensor(tracer: self, id: id, type: p.type) }
        fail("parameter of type \(p.type) is not stored in the traced layer (nor a nested layer, array or optional of it), so Kiln cannot name it")
        return Tensor(tracer: self, id: ValueID(0), type: p.type)
    }

    /// Adds a node, or records the error (with the layer path) and returns placeholders.
    func emit(_ op: OpKind, _ inputs: [Tensor], _ attributes: Attributes = [:], regions: [Function] = [],
              params: [Parameter] = []) -> [Tensor] {
        // After an error nothing is recorded; the placeholder keeps the first input's type so
        // that layer code reading `.shape` keeps running.
        let placeholder = [Tensor(tracer: self, id: inputs.first?.id ?? ValueID(0), type: inputs.first?.type ?? .f32())]
        if error != nil { return placeholder }
        if let layer = params.lazy.compactMap(layerPath(of:)).first { lastLayer = layer }
        if let foreign = inputs.first(where: { $0.tracer !== self }) {
            fail("\(op): a tensor of type \(foreign.type) from an enclosing trace is used inside a nested body; pass it as an operand",
                 params: params)
            return placeholder
        }
        do {
            let outs = try builder.add(op, inputs.map(\.id), attributes: attributes, regions: regions)
            return outs.map { Tensor(tracer: self, id: $0, type: builder.type(of: $0)) }
        } catch {
            fail(error.message, params: params)
            return placeholder
        }
    }

    /// Records `message` as the trace's error unless one is already recorded, prefixed with
    /// the layer the failing op belongs to.
    ///
    /// An op that reads a layer's parameters belongs to that layer: "blocks.1.expand (Linear): ...".
    /// A parameter-free op (an activation, a residual add, a reshape into heads) cannot be
    /// placed exactly, because `callAsFunction` calls are not observable; it is reported as
    /// "after" the layer whose parameters were used last, which is where it ran.
    func fail(_ message: String, params: [Parameter] = []) {
        guard error == nil else { return }
        if let path = params.lazy.compactMap(layerPath(of:)).first {
            error = TraceError(message: "\(describe(path)): \(message)")
        } else if let path = lastLayer {
            error = TraceError(message: "after \(describe(path)): \(message)")
        } else {
            error = TraceError(message: message)
        }
    }

    /// "blocks.1.expand (Linear)"; the root layer is "<root> (ConvNeXtBlock)".
    private func describe(_ path: String) -> String {
        (path.isEmpty ? "<root>" : path) + (layerTypes[path].map { " (\($0))" } ?? "")
    }

    /// Adopts an error from a nested tracer (already phrased) unless one is recorded.
    func adopt(_ e: TraceError) {
        if error == nil { error = e }
    }

    /// The path of the layer owning `p` ("blocks.0.dwconv" for "blocks.0.dwconv.weight").
    private func layerPath(of p: Parameter) -> String? {
        guard let name = name(of: p) else { return nil }
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return String(name[..<dot])
    }
}

/// A tracing failure: a shape or type error phrased with the layer path and both shapes.
public struct TraceError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
