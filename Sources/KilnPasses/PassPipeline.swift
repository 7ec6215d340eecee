import KilnIR

/// An ordered list of passes, run one after another with the verifier between them.
public struct PassPipeline: Sendable {
    public var passes: [any Pass]

    public init(_ passes: [any Pass]) { self.passes = passes }

    /// Every pass Kiln knows, in pipeline order (DESIGN.md, "Passes").
    public static var all: PassPipeline { PassPipeline(PassRegistry.passes) }

    /// Pass names in order, for `--after` and error messages.
    public var names: [String] { passes.map(\.name) }

    /// Runs the passes in order up to and including `last` (all when nil). `observe` sees each
    /// pass's result, for `--print-after-all`.
    public func run(_ function: Function, context: PassContext = PassContext(), through last: String? = nil,
                    observe: (String, PassResult) -> Void = { _, _ in }) throws -> PassResult {
        if let last, !names.contains(last) {
            throw PassError("unknown pass '\(last)'; passes in order: \(names.joined(separator: ", "))")
        }
        var current = function
        var notes: [String] = []
        for p in passes {
            let r = try p.run(current, context: context)
            do {
                try r.function.verify()
            } catch {
                throw PassError("pass \(p.name) produced IR that does not verify: \(error)")
            }
            observe(p.name, r)
            current = r.function
            notes += r.notes.map { "\(p.name): \($0)" }
            if p.name == last { break }
        }
        return PassResult(function: current, notes: notes)
    }
}

/// The passes in pipeline order. Each pass lives in its own file; add new ones here.
enum PassRegistry {
    static var passes: [any Pass] {
        [FuseResidualBlocks(), CheckpointResidualBlocks(), FuseBlockBackward(), ScheduleLinearAttention(), ShareLinearAttentionStates()]
    }
}
