import KilnIR

/// A symbolic tensor recorded by a trace: a value in the function being built.
///
/// A tensor only exists inside `trace` (the tracer that owns it, the value's id in the
/// function, and its type). Operators and free functions on tensors append nodes; a shape
/// error inside them is recorded, not thrown, so `callAsFunction` stays non-throwing.
public struct Tensor {
    let tracer: Tracer
    let id: ValueID
    /// Element type and static shape.
    public let type: TensorType

    init(tracer: Tracer, id: ValueID, type: TensorType) {
        self.tracer = tracer
        self.id = id
        self.type = type
    }

    /// Static shape (known at trace time, so layer code may branch on it).
    public var shape: [Int] { type.shape }
    /// Number of axes.
    public var rank: Int { type.rank }
}

/// Anything that can stand where a tensor is expected: a `Tensor` or a `Parameter`.
public protocol TensorLike {
    var tensor: Tensor { get }
    /// The parameters involved, so errors can name the layer they belong to.
    var parameters: [Parameter] { get }
}

extension Tensor: TensorLike {
    public var tensor: Tensor { self }
    public var parameters: [Parameter] { [] }
}

extension Parameter: TensorLike {
    public var parameters: [Parameter] { [self] }
}

/// Emits a single-result op over tensor-like operands, naming parameters for diagnostics.
func op(_ kind: OpKind, _ operands: [any TensorLike], _ attributes: Attributes = [:]) -> Tensor {
    let tensors = operands.map(\.tensor)
    let params = operands.flatMap(\.parameters)
    return tensors[0].tracer.emit(kind, tensors, attributes, params: params)[0]
}

/// A scalar constant in the active trace.
func scalar(_ v: Float) -> Tensor {
    Tracer.active.emit(.constant, [], ["shape": .ints([]), "value": .float(Double(v))])[0]
}

/// A constant tensor with explicit values in the active trace.
public func constant(_ values: [Float], shape: [Int]) -> Tensor {
    Tracer.active.emit(.constant, [], ["shape": .ints(shape), "values": .floats(values.map(Double.init))])[0]
}

extension Tensor {
    /// Records `message` as the trace's error (unless one is recorded) and returns `self`
    /// as the placeholder: how layer code rejects an input it cannot handle without trapping.
    func failing(_ message: String) -> Tensor {
        tracer.fail(message)
        return self
    }
}
