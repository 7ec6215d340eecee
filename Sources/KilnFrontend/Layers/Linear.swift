import KilnIR

/// y = x @ weight + bias, with weight stored [in, out].
public struct Linear: Layer {
    public var weight: Parameter
    public var bias: Parameter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        let bound = 1 / Double(inFeatures).squareRoot()
        weight = Parameter([inFeatures, outFeatures], .uniform(bound))
        self.bias = bias ? Parameter([outFeatures], .uniform(bound)) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        op(.linear, [x, weight] + [bias].compactMap { $0 })
    }
}
