import KilnIR

/// HorNet's recursive gated convolution g^n Conv (NHWC, 1x1 convs as Linear).
public struct GnConv: Layer {
    public var projIn: Linear
    public var dwconv: Conv2D
    public var pws: [Linear]
    public var projOut: Linear
    public let dims: [Int]
    public let scale: Float

    public init(channels c: Int, order: Int = 3, kernel: Int = 7) {
        let dims = (0..<order).map { c >> (order - 1 - $0) }
        self.dims = dims
        let total = dims.reduce(0, +)
        projIn = Linear(c, 2 * c)
        dwconv = Conv2D(total, total, kernel: (kernel, kernel), groups: total)
        pws = (0..<(order - 1)).map { Linear(dims[$0], dims[$0 + 1]) }
        projOut = Linear(c, c)
        scale = 1.0 / 3.0
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let total = dims.reduce(0, +)
        let parts = split(projIn(x), axis: -1, sizes: [dims[0], total])
        let dw = split(dwconv(parts[1]) * scale, axis: -1, sizes: dims)
        var y = parts[0] * dw[0]
        for i in 0..<pws.count { y = pws[i](y) * dw[i + 1] }
        return projOut(y)
    }
}

/// HorNet block: x + gamma1 * gnConv(LN(x)), then x + gamma2 * MLP(LN(x)).
public struct HorNetBlock: Layer {
    public var norm1: LayerNorm
    public var gnconv: GnConv
    public var gamma1: Parameter
    public var mlp: ScaledMLP

    public init(channels c: Int, order: Int = 3) {
        norm1 = LayerNorm(c)
        gnconv = GnConv(channels: c, order: order)
        gamma1 = Parameter([c], .range(0.05, 0.15))
        mlp = ScaledMLP(channels: c)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = x + gnconv(norm1(x)) * gamma1
        return y + mlp(y)
    }
}

/// InceptionNeXt block: identity / dw 3x3 / dw 1 x k / dw k x 1 channel branches, concat,
/// BatchNorm, then a scaled MLP and the residual.
public struct InceptionNeXtBlock: Layer {
    public var dwSquare: Conv2D
    public var dwWide: Conv2D
    public var dwTall: Conv2D
    public var norm: BatchNorm
    public var mlp: ScaledMLP
    public let branch: Int

    public init(channels c: Int, band: Int = 11, branchRatio: Int = 8) {
        let g = c / branchRatio
        branch = g
        dwSquare = Conv2D(g, g, kernel: (3, 3), groups: g)
        dwWide = Conv2D(g, g, kernel: (1, band), padding: [0, 0, band / 2, band / 2], groups: g)
        dwTall = Conv2D(g, g, kernel: (band, 1), padding: [band / 2, band / 2, 0, 0], groups: g)
        norm = BatchNorm(c)
        mlp = ScaledMLP(channels: c, norm: false)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let c = x.shape.last ?? 0
        let p = split(x, axis: -1, sizes: [c - 3 * branch, branch, branch, branch])
        let mixed = concat([p[0], dwSquare(p[1]), dwWide(p[2]), dwTall(p[3])], axis: -1)
        return x + mlp(norm(mixed))
    }
}
