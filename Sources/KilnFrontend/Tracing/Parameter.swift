import KilnIR

/// How a parameter's initial values are drawn (seeded by model seed and dotted name).
public enum ParameterInit: Sendable {
    case uniform(Double)          // U(-bound, bound)
    case range(Double, Double)    // U(lo, hi)
    case constant(Double)
    case values([Float])
}

/// A trainable tensor owned by a layer. Found by reflection and named by its dotted path
/// (`blocks.0.dwconv.weight`); inside `trace` it behaves like a `Tensor`.
///
/// A class, so that the tracer can record the name it found for this parameter and
/// the layer's code can use the same object while running.
public final class Parameter: @unchecked Sendable {
    public let type: TensorType
    public let initializer: ParameterInit
    /// Set when a trace walks the owning layer.
    public internal(set) var path: String?

    public init(_ shape: [Int], _ initializer: ParameterInit) {
        type = TensorType(.f32, shape)
        self.initializer = initializer
    }

    /// The path of the layer that owns this parameter ("blocks.0.dwconv").
    var layerPath: String? {
        guard let path else { return nil }
        guard let dot = path.lastIndex(of: ".") else { return "" }
        return String(path[..<dot])
    }

    /// The parameter's value in the active trace.
    public var tensor: Tensor { Tracer.active.value(of: self) }

    /// Initial values, deterministic in (seed, path).
    func initialValues(seed: UInt64) -> HostTensor {
        var rng = SeededRandom(seed: seed, name: path ?? "")
        let n = type.elementCount
        let values: [Float]
        switch initializer {
        case .uniform(let b): values = rng.uniformFloats(n, -b, b)
        case .range(let lo, let hi): values = rng.uniformFloats(n, lo, hi)
        case .constant(let c): values = [Float](repeating: Float(c), count: n)
        case .values(let v): values = v
        }
        return HostTensor(shape: type.shape, floats: values)
    }
}
