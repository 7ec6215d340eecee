import KilnIR

/// How a parameter's initial values are drawn. Random draws are seeded by the model seed
/// and the parameter's dotted name, so a value never depends on declaration order.
public enum ParameterInit: Sendable, Equatable {
    /// U(-bound, bound); `1/sqrt(fan_in)` is the usual bound for weights.
    case uniform(Double)
    /// U(lo, hi).
    case range(Double, Double)
    /// Every element equal to the value.
    case constant(Double)
    /// Explicit values in row-major order (count must match the shape).
    case values([Float])

    /// All ones (a norm's scale).
    public static var ones: ParameterInit { .constant(1) }
    /// All zeros (a bias).
    public static var zeros: ParameterInit { .constant(0) }
    /// PyTorch's default for linear and conv weights: U(±1/sqrt(fan_in)).
    public static func fanIn(_ fanIn: Int) -> ParameterInit { .uniform(1 / Double(Swift.max(fanIn, 1)).squareRoot()) }
}

/// A trainable tensor owned by a layer: a shape and an initializer, nothing else.
///
/// A parameter has no name of its own. `trace` finds it by reflection, names it by its
/// dotted path (`blocks.0.dwconv.weight`) and binds it to a `param` argument; inside the
/// trace it stands wherever a `Tensor` does (see `TensorLike`). It is a class so that its
/// identity survives the copies Swift makes of value-type layers: the layer code that
/// runs and the reflection walk see the same object, and one object stored in two places
/// is one (tied) weight.
public final class Parameter: Sendable {
    /// Element type (always f32 for now) and shape.
    public let type: TensorType
    public let initializer: ParameterInit

    public init(_ shape: [Int], _ initializer: ParameterInit) {
        type = TensorType(.f32, shape)
        self.initializer = initializer
    }

    public var shape: [Int] { type.shape }

    /// The parameter's value in the active trace.
    public var tensor: Tensor { Tracer.active.value(of: self) }

    /// Initial values, deterministic in (seed, dotted name).
    func initialValues(seed: UInt64, name: String) throws(TraceError) -> HostTensor {
        var rng = SeededRandom(seed: seed, name: name)
        let n = type.elementCount
        let values: [Float]
        switch initializer {
        case .uniform(let b): values = rng.uniformFloats(n, -b, b)
        case .range(let lo, let hi): values = rng.uniformFloats(n, lo, hi)
        case .constant(let c): values = [Float](repeating: Float(c), count: n)
        case .values(let v):
            guard v.count == n else {
                throw TraceError(message: "\(name): .values initializer has \(v.count) values for a parameter of type \(type)")
            }
            values = v
        }
        return HostTensor(shape: type.shape, floats: values)
    }
}
