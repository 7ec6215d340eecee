/// The static type of a value: element type and shape. Shapes are fully static.
///
/// Printed as `f32[1,56,56,96]`; a scalar is `f32[]`.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public static func f32(_ shape: Int...) -> TensorType { TensorType(.f32, shape) }
    public static func i32(_ shape: Int...) -> TensorType { TensorType(.i32, shape) }

    public var rank: Int { shape.count }

    /// Number of elements; 1 for a scalar.
    public var elementCount: Int { shape.reduce(1, *) }

    /// Bytes the value occupies when materialized densely.
    public var byteCount: Int { elementCount * dtype.byteSize }

    public var description: String {
        "\(dtype)[\(shape.map(String.init).joined(separator: ","))]"
    }

    /// Largest element count Kiln accepts for one tensor (2^40 elements, 4 TiB of f32).
    /// Anything larger is certainly a mistake and would overflow size arithmetic.
    public static let maxElements = 1 << 40

    /// Checks every dimension is positive and the element count is sane.
    public func validate() throws(IRError) {
        var count = 1
        for d in shape {
            guard d > 0 else {
                throw IRError("dimension \(d) in \(self) must be positive")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= TensorType.maxElements else {
                throw IRError("\(self) has more than 2^40 elements")
            }
            count = p
        }
    }
}

/// Normalizes a possibly negative axis against a rank, or throws.
public func normalizeAxis(_ axis: Int, rank: Int, op: String) throws(IRError) -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < rank else {
        throw IRError("\(op): axis \(axis) is out of range for rank \(rank)")
    }
    return a
}
