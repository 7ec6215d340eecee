import KilnIR

// Arithmetic on tensors and parameters with numpy broadcasting; Float operands become
// scalar `constant` nodes.

/// Sum, elementwise, with numpy broadcasting.
public func + (a: any TensorLike, b: any TensorLike) -> Tensor { op(.add, [a, b]) }
/// Difference, elementwise, with numpy broadcasting.
public func - (a: any TensorLike, b: any TensorLike) -> Tensor { op(.sub, [a, b]) }
/// Product, elementwise, with numpy broadcasting.
public func * (a: any TensorLike, b: any TensorLike) -> Tensor { op(.mul, [a, b]) }
/// Quotient, elementwise, with numpy broadcasting.
public func / (a: any TensorLike, b: any TensorLike) -> Tensor { op(.div, [a, b]) }

/// Sum, elementwise, the Float becoming a scalar `constant` node.
public func + (a: any TensorLike, b: Float) -> Tensor { op(.add, [a, scalar(b)]) }
/// Difference, elementwise, the Float becoming a scalar `constant` node.
public func - (a: any TensorLike, b: Float) -> Tensor { op(.sub, [a, scalar(b)]) }
/// Product, elementwise, the Float becoming a scalar `constant` node.
public func * (a: any TensorLike, b: Float) -> Tensor { op(.mul, [a, scalar(b)]) }
/// Quotient, elementwise, the Float becoming a scalar `constant` node.
public func / (a: any TensorLike, b: Float) -> Tensor { op(.div, [a, scalar(b)]) }
/// Sum, elementwise, the Float becoming a scalar `constant` node.
public func + (a: Float, b: any TensorLike) -> Tensor { op(.add, [scalar(a), b]) }
/// Difference, elementwise, the Float becoming a scalar `constant` node.
public func - (a: Float, b: any TensorLike) -> Tensor { op(.sub, [scalar(a), b]) }
/// Product, elementwise, the Float becoming a scalar `constant` node.
public func * (a: Float, b: any TensorLike) -> Tensor { op(.mul, [scalar(a), b]) }
/// Quotient, elementwise, the Float becoming a scalar `constant` node.
public func / (a: Float, b: any TensorLike) -> Tensor { op(.div, [scalar(a), b]) }

/// Negation, elementwise.
public prefix func - (a: any TensorLike) -> Tensor { op(.neg, [a]) }

/// Elementwise maximum, with broadcasting.
public func maximum(_ a: any TensorLike, _ b: any TensorLike) -> Tensor { op(.max, [a, b]) }
/// Elementwise minimum, with broadcasting.
public func minimum(_ a: any TensorLike, _ b: any TensorLike) -> Tensor { op(.min, [a, b]) }
