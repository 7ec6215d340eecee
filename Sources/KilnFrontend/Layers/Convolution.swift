import KilnIR

/// 2-D convolution over NHWC with weight [KH, KW, C/groups, O]; depthwise is groups = C.
public struct Conv2D: Layer {
    public var weight: Parameter
    public var bias: Parameter?
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let groups: Int

    /// - Parameter padding: [top, bottom, left, right]; nil means "same" for stride 1.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: Int = 1, padding: [Int]? = nil,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        let fanIn = kernel.0 * kernel.1 * Swift.max(inChannels / Swift.max(groups, 1), 1)
        let bound = 1 / Double(fanIn).squareRoot()
        weight = Parameter([kernel.0, kernel.1, inChannels / Swift.max(groups, 1), outChannels], .uniform(bound))
        self.bias = bias ? Parameter([outChannels], .uniform(bound)) : nil
        self.stride = [stride, stride]
        let ph = dilation * (kernel.0 - 1), pw = dilation * (kernel.1 - 1)
        self.padding = padding ?? [ph / 2, ph - ph / 2, pw / 2, pw - pw / 2]
        self.dilation = [dilation, dilation]
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        op(.conv2d, [x, weight] + [bias].compactMap { $0 },
           ["stride": .ints(stride), "padding": .ints(padding), "dilation": .ints(dilation), "groups": .int(groups)])
    }
}

/// 1-D convolution over NTC with weight [K, C/groups, O]; causal pads (K-1)*dilation on the left.
public struct Conv1D: Layer {
    public var weight: Parameter
    public var bias: Parameter?
    public let padding: [Int]
    public let dilation: Int
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, dilation: Int = 1, causal: Bool = true,
                groups: Int = 1, bias: Bool = true) {
        let bound = 1 / Double(kernel * Swift.max(inChannels / Swift.max(groups, 1), 1)).squareRoot()
        weight = Parameter([kernel, inChannels / Swift.max(groups, 1), outChannels], .uniform(bound))
        self.bias = bias ? Parameter([outChannels], .uniform(bound)) : nil
        let p = dilation * (kernel - 1)
        padding = causal ? [p, 0] : [p / 2, p - p / 2]
        self.dilation = dilation
        self.groups = groups
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        op(.conv1d, [x, weight] + [bias].compactMap { $0 },
           ["padding": .ints(padding), "dilation": .int(dilation), "groups": .int(groups)])
    }
}
