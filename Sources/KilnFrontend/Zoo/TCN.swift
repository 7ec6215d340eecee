import KilnIR

/// Causal dilated conv1d stack with ReLU and a residual (a TCN block).
public struct TCNBlock: Layer {
    public var convs: [Conv1D]

    public init(channels c: Int, kernel: Int = 3, dilations: [Int] = [1, 2, 4]) {
        convs = dilations.map { Conv1D(c, c, kernel: kernel, dilation: $0, causal: true) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x + convs.reduce(x) { relu($1($0)) }
    }
}
