import KilnIR

/// `fuse-block-backward`: in a training graph whose forward blocks were fused by
/// `fuse-residual-blocks`, groups the backward nodes that work row by row on a block's image
/// shape (the data gradient through pointwise ops, activations, layer-norm statistics and
/// `dy . w^T` matmuls) into `fused` ops with the same row schedule as the forward, so each
/// group runs as one kernel instead of one kernel per op. Weight gradients (reductions over
/// all pixels) and k x k convolution backward stay separate kernels; the notes list them.
///
/// Option `fuse-block-backward` = `on` (default) or `off`.
public struct FuseBlockBackward: Pass {
    public var name: String { "fuse-block-backward" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        let mode = context.options["fuse-block-backward"] ?? "on"
        guard ["on", "off"].contains(mode) else { throw PassError("fuse-block-backward=\(mode): choose on or off") }
        let forward = function.nodes.filter { $0.op == .fused && $0.attributes.symbol("schedule") == "rows" }
        guard !forward.isEmpty else {
            let training = function.nodes.contains { [.conv2d_backward_input, .conv2d_backward_weight].contains($0.op) }
            return PassResult(function: function, notes: training ? ["no fused forward block: the backward runs op by op"] : [])
        }
        var leads: [[Int]] = []
        for n in forward {
            let s = function.type(of: n.outputs[0]).shape
            if s.count == 4, !leads.contains(Array(s.dropLast())) { leads.append(Array(s.dropLast())) }
        }
        guard mode == "on" else { return PassResult(function: function, notes: ["off: the backward runs op by op"]) }
        var f = function
        var notes: [String] = []
        var count = 0
        for lead in leads {
            let (rewritten, weights) = BackwardRewrites.pixelReductionsRewriting(in: &f, lead: lead)
            if rewritten > 0 { notes.append("\(rewritten) weight/bias gradient(s) over flattened pixels rewritten as reductions over image rows") }
            let regions = BackwardRegionFinder.regions(in: f, lead: lead)
            var chosen: [(BackwardRegion, Node)] = []
            for region in regions {
                let label = "backward region \(count) (\(region.nodes.count) ops: " + region.nodes.map { f.nodes[$0].op.rawValue }.joined(separator: " ") + ")"
                count += 1
                let block = ResidualBlock(nodes: region.nodes, input: f.nodes[region.nodes[0]].inputs[0],
                                          output: region.exports[0], exports: Array(region.exports.dropFirst()))
                let body = ResidualBlockMatcher.body(of: block, in: f, name: "\(f.name)_bwd\(count - 1)")
                let schedule: RowSchedule
                do { schedule = try RowSchedule(body: body) } catch {
                    notes.append("\(label): not fused: \(error)")
                    continue
                }
                var e = FusionCostModel.estimate(body: body, schedule: schedule, machine: context.machine, threads: context.threads)
                // Every tile keeps partial sums of the pixel reductions: no more tiles than the threads need.
                let reduces = schedule.steps.contains { if case .pixelReduce = $0 { return true }; return false }
                if reduces {
                    let threads = max(context.threads, 1)
                    e.bands = schedule.batch >= threads ? 1 : min((threads + schedule.batch - 1) / schedule.batch, schedule.rows)
                }
                let attrs: Attributes = [
                    "schedule": .symbol("rows"), "bands": .int(e.bands), "row_group": .int(1), "direction": .symbol("backward"),
                ]
                let outerInputs = body.arguments.map { a in f.value(named: body.name(of: a))! }
                // What the backward kernel reads from the forward pass (the saved values).
                let producers = f.producers()
                let saved = outerInputs.filter { v in
                    guard let p = producers[v.index] else { return f.role(of: v) != .param && f.inputs.contains(v) }
                    return f.nodes[p].op == .fused && f.nodes[p].attributes.symbol("direction") != "backward"
                }
                let reductions = schedule.steps.filter { if case .pixelReduce = $0 { return true }; return false }.count
                notes.append("\(label): fused into one kernel" + (reductions > 0 ? " plus one that adds the per-tile partial sums of its \(reductions) reductions over pixels" : "") +
                             "; reads from the forward pass " + saved.map { "%" + f.name(of: $0) }.joined(separator: " ") +
                             "; returns " + region.exports.map { "%" + f.name(of: $0) }.joined(separator: " ") +
                             "; \(schedule.batch) x \(e.bands) tiles, scratch \(e.scratchBytes / 1024) KiB per thread")
                chosen.append((region, Node(op: .fused, inputs: outerInputs, outputs: region.exports, attributes: attrs, regions: [body])))
            }
            f = try BackwardRegionFinder.contract(chosen, in: f)
            let restored = BackwardRewrites.restoreGEMMs(in: &f, weights: weights)
            if restored > 0 { notes.append("\(restored) 1x1 weight gradient(s) outside every backward kernel stay one GEMM over all pixels") }
        }
        // What is left after the first fused block, grouped by reason.
        if count > 0, let lead = leads.first, let first = f.nodes.firstIndex(where: { $0.op == .fused }) {
            var byReason: [String: [String]] = [:]
            for n in f.nodes[(first + 1)...] where n.op != .fused && n.op != .constant && n.op != .reshape {
                byReason[BackwardRegionFinder.reason(n, in: f, lead: lead) ?? "row op outside any region (loss or a lone op)", default: []].append(n.op.rawValue)
            }
            for (why, ops) in byReason.sorted(by: { $0.key < $1.key }) {
                let counted = Dictionary(grouping: ops, by: { $0 }).map { "\($0.key) \($0.value.count)" }.sorted()
                notes.append("not fused: " + counted.joined(separator: ", ") + ": " + why)
            }
        }
        return PassResult(function: f, notes: notes)
    }
}
