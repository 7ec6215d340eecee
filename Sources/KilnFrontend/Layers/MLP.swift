import KilnIR

/// LayerNorm -> Linear C->eC -> GELU -> Linear eC->C, scaled by gamma: a MetaFormer MLP branch.
public struct ScaledMLP: Layer {
    public var norm: LayerNorm?
    public var fc1: Linear
    public var fc2: Linear
    public var gamma: Parameter

    public init(channels c: Int, expansion: Int = 4, norm: Bool = true) {
        self.norm = norm ? LayerNorm(c) : nil
        fc1 = Linear(c, expansion * c)
        fc2 = Linear(expansion * c, c)
        gamma = Parameter([c], .range(0.05, 0.15))
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = norm.map { $0(x) } ?? x
        return fc2(gelu(fc1(h))) * gamma
    }
}
