import KilnIR

/// `fuse-residual-blocks`: finds residual blocks by structure and turns each into one
/// `fused` op. Placeholder: the matcher and scheduler land in the following commits.
public struct FuseResidualBlocks: Pass {
    public var name: String { "fuse-residual-blocks" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        PassResult(function: function, notes: [])
    }
}
