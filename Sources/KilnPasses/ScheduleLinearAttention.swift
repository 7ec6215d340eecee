import KilnIR

/// `schedule-linear-attention`: picks the recurrent or chunkwise form and the chunk size
/// for each `linear_attention` op. Placeholder until the chunkwise kernels land: it keeps
/// every op as it is and says so.
public struct ScheduleLinearAttention: Pass {
    public var name: String { "schedule-linear-attention" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        PassResult(function: function, notes: [])
    }
}
