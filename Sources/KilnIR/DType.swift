/// Element types of Graph IR values.
///
/// Kiln computes in `f32`; `i32` carries indices (embedding ids, labels) and
/// `bool` carries masks. Execution in fp64 (for gradient checks) is a mode of the
/// interpreter, not a separate IR type, so the same text runs in both.
public enum DType: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case f32
    case i32
    case bool

    /// Bytes per element in memory.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .bool: return 1
        }
    }

    public var isFloat: Bool { self == .f32 }
    public var description: String { rawValue }
}
