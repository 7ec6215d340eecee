/// Element storage of a host tensor. `f64` holds f32-typed values computed in double
/// precision (the interpreter's fp64 mode for gradient checks).
public enum TensorData: Sendable, Equatable {
    case f32([Float])
    case f64([Double])
    case i32([Int32])
    case bool([Bool])

    public var count: Int {
        switch self {
        case .f32(let a): return a.count
        case .f64(let a): return a.count
        case .i32(let a): return a.count
        case .bool(let a): return a.count
        }
    }
}

/// A dense, row-major tensor in host memory: the values that flow in and out of the
/// interpreter, tensor files and executables.
public struct HostTensor: Sendable, Equatable, CustomStringConvertible {
    public var shape: [Int]
    public var data: TensorData

    public init(shape: [Int], data: TensorData) {
        precondition(shape.reduce(1, *) == data.count, "HostTensor: \(data.count) elements for shape \(shape)")
        self.shape = shape
        self.data = data
    }

    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, data: .f32(floats)) }
    public init(shape: [Int], doubles: [Double]) { self.init(shape: shape, data: .f64(doubles)) }
    public init(shape: [Int], ints: [Int32]) { self.init(shape: shape, data: .i32(ints)) }

    /// A tensor of zeros of the given IR type.
    public init(zeros type: TensorType) {
        let n = type.elementCount
        switch type.dtype {
        case .f32: self.init(shape: type.shape, data: .f32(.init(repeating: 0, count: n)))
        case .i32: self.init(shape: type.shape, data: .i32(.init(repeating: 0, count: n)))
        case .bool: self.init(shape: type.shape, data: .bool(.init(repeating: false, count: n)))
        }
    }

    /// The IR type; f64 storage is still an f32-typed value.
    public var type: TensorType {
        switch data {
        case .f32, .f64: return TensorType(.f32, shape)
        case .i32: return TensorType(.i32, shape)
        case .bool: return TensorType(.bool, shape)
        }
    }

    public var elementCount: Int { data.count }

    /// Values as Float (converting f64, i32 and bool).
    public var floats: [Float] {
        switch data {
        case .f32(let a): return a
        case .f64(let a): return a.map { Float($0) }
        case .i32(let a): return a.map { Float($0) }
        case .bool(let a): return a.map { $0 ? 1 : 0 }
        }
    }

    /// Values as Double (converting f32, i32 and bool).
    public var doubles: [Double] {
        switch data {
        case .f32(let a): return a.map { Double($0) }
        case .f64(let a): return a
        case .i32(let a): return a.map { Double($0) }
        case .bool(let a): return a.map { $0 ? 1 : 0 }
        }
    }

    public var description: String {
        let preview = doubles.prefix(6).map { formatFloat($0) }.joined(separator: ", ")
        return "\(type) [\(preview)\(elementCount > 6 ? ", ..." : "")]"
    }
}
