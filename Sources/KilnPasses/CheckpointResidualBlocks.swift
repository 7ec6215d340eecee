import KilnIR

/// `checkpoint-residual-blocks`: in a training graph, a fused block that also returns the
/// values its backward reads (see `FuseResidualBlocks`) keeps them alive from the forward
/// pass to the backward pass. With this pass on, the forward kernel returns only the block
/// output, and a second copy of the fused kernel recomputes those values from the block's
/// inputs (the checkpoint) right before the backward first reads them: less memory held
/// across the pass, one more fused forward of work.
///
/// Option `checkpoint-residual-blocks` = `off` (default) or `on`.
public struct CheckpointResidualBlocks: Pass {
    public var name: String { "checkpoint-residual-blocks" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        let mode = context.options["checkpoint-residual-blocks"] ?? "off"
        guard ["on", "off"].contains(mode) else { throw PassError("checkpoint-residual-blocks=\(mode): choose on or off") }
        let candidates = function.nodes.indices.filter { function.nodes[$0].op == .fused && function.nodes[$0].outputs.count > 1 }
        guard mode == "on" else {
            return PassResult(function: function, notes: candidates.isEmpty ? [] : ["off: \(candidates.count) fused block(s) keep their intermediates for the backward pass"])
        }
        var f = function
        var notes: [String] = []
        // Work from the last block back: inserting a copy only shifts nodes after it, and an
        // earlier block's forward node comes before every later insertion point.
        for i in candidates.reversed() {
            let users = f.users()
            let node = f.nodes[i]
            let exports = Array(node.outputs.dropFirst())
            let readers = exports.flatMap { users[$0.index] }
            guard let first = readers.min() else { continue }
            // The recompute copy: same body and inputs, fresh values for the exports.
            var copy = node
            var fresh: [ValueID: ValueID] = [:]
            for e in exports {
                let id = ValueID(f.values.count)
                var info = f.values[e.index]
                info.name += ".recomputed"
                f.values.append(info)
                fresh[e] = id
            }
            // The copy's first result (the block output again) is not needed but must exist.
            let unused = ValueID(f.values.count)
            var outInfo = f.values[node.outputs[0].index]
            outInfo.name += ".recomputed"
            f.values.append(outInfo)
            copy.outputs = [unused] + exports.map { fresh[$0]! }
            for r in readers { f.nodes[r].inputs = f.nodes[r].inputs.map { fresh[$0] ?? $0 } }
            f.results = f.results.map { fresh[$0] ?? $0 }
            // The forward kernel now returns only the output: a body without the exports.
            var forward = node
            forward.outputs = [node.outputs[0]]
            forward.regions[0].results = [node.regions[0].results[0]]
            f.nodes[i] = forward
            f.nodes.insert(copy, at: first)
            notes.append("block at %\(f.name(of: node.outputs[0])): saves its inputs; recomputes " +
                         exports.map { "%" + function.name(of: $0) }.joined(separator: " ") + " before the backward reads them")
        }
        return PassResult(function: f, notes: notes)
    }
}
