import KilnIR

// Arithmetic on tensors and parameters with numpy broadcasting; Float operands become
// scalar `constant` nodes.

public func + (a: any TensorLike, b: any TensorLike) -> Tensor { op(.add, [a, b]) }
public func - (a: any TensorLike, b: any TensorLike) -> Tensor { op(.sub, [a, b]) }
public func * (a: any TensorLike, b: any TensorLike) -> Tensor { op(.mul, [a, b]) }
public func / (a: any TensorLike, b: any TensorLike) -> Tensor { op(.div, [a, b]) }

public func + (a: any TensorLike, b: Float) -> Tensor { op(.add, [a, scalar(b)]) }
public func - (a: any TensorLike, b: Float) -> Tensor { op(.sub, [a, scalar(b)]) }
public func * (a: any TensorLike, b: Float) -> Tensor { op(.mul, [a, scalar(b)]) }
public func / (a: any TensorLike, b: Float) -> Tensor { op(.div, [a, scalar(b)]) }
public func + (a: Float, b: any TensorLike) -> Tensor { op(.add, [scalar(a), b]) }
public func - (a: Float, b: any TensorLike) -> Tensor { op(.sub, [scalar(a), b]) }
public func * (a: Float, b: any TensorLike) -> Tensor { op(.mul, [scalar(a), b]) }
public func / (a: Float, b: any TensorLike) -> Tensor { op(.div, [scalar(a), b]) }

public prefix func - (a: any TensorLike) -> Tensor { op(.neg, [a]) }

public func maximum(_ a: any TensorLike, _ b: any TensorLike) -> Tensor { op(.max, [a, b]) }
public func minimum(_ a: any TensorLike, _ b: any TensorLike) -> Tensor { op(.min, [a, b]) }
