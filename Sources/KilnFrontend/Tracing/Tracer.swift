import KilnIR

/// Records ops into a `FunctionBuilder` while a layer runs on symbolic tensors.
///
/// Tracing is single-threaded: `Tracer.current` is the tracer `Parameter`s bind to and
/// scalar constants are emitted into. Errors never trap inside `callAsFunction`: the first
/// one is kept, later ops return placeholders, and `trace` throws it at the end.
public final class Tracer {
    nonisolated(unsafe) static var current: Tracer?

    let builder: FunctionBuilder
    /// The first error, already phrased with the layer path.
    var error: Error?
    /// Parameter object -> its value in this function.
    var bound: [ObjectIdentifier: ValueID] = [:]
    /// Layer path prefix -> layer type name, for diagnostics ("blocks.1.expand" -> "Linear").
    var layerTypes: [String: String]
    /// The layer most recently seen using one of its parameters (fallback for errors in ops without parameters).
    var lastLayer: String?

    init(name: String, layerTypes: [String: String] = [:]) {
        builder = FunctionBuilder(name: name)
        self.layerTypes = layerTypes
    }

    /// The active tracer; using tensors outside `trace` is a programming error.
    static var active: Tracer {
        guard let t = current else { preconditionFailure("Kiln tensors can only be used inside trace(...)") }
        return t
    }

    /// Runs `body` with this tracer active, restoring the previous one after.
    func activate<R>(_ body: () throws -> R) rethrows -> R {
        let saved = Tracer.current
        Tracer.current = self
        defer { Tracer.current = saved }
        return try body()
    }

    /// Adds a node, or records the error (with the layer path) and returns placeholders.
    func emit(_ op: OpKind, _ inputs: [Tensor], _ attributes: Attributes = [:], regions: [Function] = [], params: [Parameter] = []) -> [Tensor] {
        let placeholder = { [Tensor(tracer: self, id: inputs.first?.id ?? ValueID(0), type: inputs.first?.type ?? .f32())] }
        if error != nil { return placeholder() }
        if let foreign = inputs.first(where: { $0.tracer !== self }) {
            record(IRError("\(op): a tensor of type \(foreign.type) from an enclosing trace is used inside a nested body; pass it as an operand"), params: params)
            return placeholder()
        }
        let paramLayers = params.compactMap(\.layerPath)
        if let l = paramLayers.first { lastLayer = l }
        do {
            let outs = try builder.add(op, inputs.map(\.id), attributes: attributes, regions: regions)
            return outs.map { Tensor(tracer: self, id: $0, type: builder.type(of: $0)) }
        } catch {
            record(error, params: params)
            return placeholder()
        }
    }

    private func record(_ e: IRError, params: [Parameter]) {
        let path = params.compactMap(\.layerPath).first ?? lastLayer
        if let path {
            let type = layerTypes[path].map { " (\($0))" } ?? ""
            error = TraceError(message: "\(path)\(type): \(e.message)")
        } else {
            error = TraceError(message: e.message)
        }
    }

    /// The value of a parameter in this function.
    func value(of p: Parameter) -> Tensor {
        if let id = bound[ObjectIdentifier(p)] { return Tensor(tracer: self, id: id, type: p.type) }
        if error == nil {
            error = TraceError(message: "parameter \(p.path ?? "(unnamed)") of type \(p.type) is not a stored property of the traced layer, so Kiln cannot name it")
        }
        return Tensor(tracer: self, id: ValueID(0), type: p.type)
    }
}

/// A tracing failure: a shape or type error phrased with the layer path and both shapes.
public struct TraceError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
