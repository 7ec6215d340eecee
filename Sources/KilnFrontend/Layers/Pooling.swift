import KilnIR

/// Max or average pooling over NHWC (average excludes padding from the divisor).
public struct Pool2D: Layer {
    public enum Kind: Sendable { case max, average }
    public let kind: Kind
    public let window: [Int]
    public let stride: [Int]
    public let padding: [Int]

    public init(_ kind: Kind, window: Int, stride: Int, padding: Int = 0) {
        self.kind = kind
        self.window = [window, window]
        self.stride = [stride, stride]
        self.padding = [padding, padding, padding, padding]
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        op(kind == .max ? .max_pool2d : .avg_pool2d, [x],
           ["window": .ints(window), "stride": .ints(stride), "padding": .ints(padding)])
    }
}
