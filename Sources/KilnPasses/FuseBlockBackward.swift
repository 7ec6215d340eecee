import Foundation
import KilnIR

/// `fuse-block-backward`: in a training graph whose forward blocks were fused by
/// `fuse-residual-blocks`, groups the backward nodes that work row by row on a block's image
/// shape, or on a sequence block's [B, T, C] in groups of tokens (the data gradient through
/// pointwise ops, activations, layer-norm statistics and `dy . w^T` matmuls) into `fused` ops
/// with the same row schedule as the forward, so each group runs as one kernel instead of one
/// kernel per op. A transformer FFN's two `dy . w^T` matmuls form a hidden chain there as in
/// the forward (`RowSchedule.hiddenChains`): the hidden gradient exists in slices, plus the
/// full copy its weight-gradient GEMM reads. Weight gradients (reductions over all pixels)
/// and k x k convolution backward stay separate kernels; the notes list them.
///
/// Option `fuse-block-backward` = `on` (default) or `off`.
///
/// Option `fuse-block-backward-recompute` = `auto` (default), `on` or `off`: whether each
/// backward kernel recomputes its block's forward intermediates per row tile from the block
/// input (`BackwardRecompute`) instead of reading what the forward kernel saved. `auto`
/// decides per block with the cost model: recompute when the recomputed arithmetic is
/// predicted to cost less than writing and reading back the saved values. Where the option
/// cannot be passed (`kiln run`, `kiln bench`), the environment variable
/// `KILN_BACKWARD_RECOMPUTE` sets it.
public struct FuseBlockBackward: Pass {
    public var name: String { "fuse-block-backward" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        let mode = context.options["fuse-block-backward"] ?? "on"
        guard ["on", "off"].contains(mode) else { throw PassError("fuse-block-backward=\(mode): choose on or off") }
        let recomputeMode = context.options["fuse-block-backward-recompute"]
            ?? ProcessInfo.processInfo.environment["KILN_BACKWARD_RECOMPUTE"] ?? "auto"
        guard ["auto", "on", "off"].contains(recomputeMode) else {
            throw PassError("fuse-block-backward-recompute=\(recomputeMode): choose auto, on or off")
        }
        let forward = function.nodes.filter { $0.op == .fused && $0.attributes.symbol("schedule") == "rows" }
        guard !forward.isEmpty else {
            let training = function.nodes.contains { [.conv2d_backward_input, .conv2d_backward_weight].contains($0.op) }
            return PassResult(function: function, notes: training ? ["no fused forward block: the backward runs op by op"] : [])
        }
        // Leading shapes the backward rows run over: [B, H, W] of images, [B, T] of sequences.
        var leads: [[Int]] = []
        for n in forward {
            let s = function.type(of: n.outputs[0]).shape
            if s.count >= 3, !leads.contains(Array(s.dropLast())) { leads.append(Array(s.dropLast())) }
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
                var body = ResidualBlockMatcher.body(of: block, in: f, name: "\(f.name)_bwd\(count - 1)")
                // Recompute the block's saved intermediates in this kernel, or read them.
                let saved = BackwardRecompute.saved(body: body, in: f)
                var recomputeNote = ""
                if !saved.isEmpty {
                    let c = BackwardRecompute.costs(saved, all: saved, in: f, machine: context.machine, threads: context.threads)
                    let us = { (s: Double) in String(format: "%.1f us", s * 1e6) }
                    let recompute = recomputeMode == "on" || (recomputeMode == "auto" && c.recompute <= c.save)
                    let why = "recomputing \(String(format: "%.1f", c.flops / 1e6)) MFLOP predicted \(us(c.recompute)) vs saving \(us(c.save))"
                    if recompute {
                        body = BackwardRecompute.recomputing(body: body, chosen: saved, all: saved, in: f).compacted()
                        recomputeNote = "recomputes from the block input (fuse-block-backward-recompute=\(recomputeMode): \(why)): " +
                            saved.map { BackwardRecompute.describe($0.outer, in: f) }.joined(separator: ", ")
                    } else {
                        recomputeNote = "reads saved intermediates (fuse-block-backward-recompute=\(recomputeMode): \(why))"
                    }
                }
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
                    "schedule": .symbol("rows"), "bands": .int(e.bands), "row_group": .int(schedule.group), "direction": .symbol("backward"),
                ]
                let outerInputs = body.arguments.map { a in f.value(named: body.name(of: a))! }
                // What the backward kernel reads from the forward pass (the saved values).
                let producers = f.producers()
                let reads = outerInputs.filter { v in
                    guard let p = producers[v.index] else { return f.role(of: v) != .param && f.inputs.contains(v) }
                    return f.nodes[p].op == .fused && f.nodes[p].attributes.symbol("direction") != "backward"
                }
                let reductions = schedule.steps.filter { if case .pixelReduce = $0 { return true }; return false }.count
                let savedBytes = reads.reduce(0) { $0 + f.type(of: $1).elementCount * 4 }
                notes.append("\(label): fused into one kernel" + (reductions > 0 ? " plus one that adds the per-tile partial sums of its \(reductions) reductions over pixels" : "") +
                             (recomputeNote.isEmpty ? "" : "; " + recomputeNote) +
                             "; saved from the forward pass (\(savedBytes / 1024) KiB): " + reads.map { BackwardRecompute.describe($0, in: f) }.joined(separator: ", ") +
                             "; returns " + region.exports.map { "%" + f.name(of: $0) }.joined(separator: " ") +
                             "; \(schedule.batch) x \(e.bands) tiles, scratch \(e.scratchBytes / 1024) KiB per thread")
                chosen.append((region, Node(op: .fused, inputs: outerInputs, outputs: region.exports, attributes: attrs, regions: [body])))
            }
            f = try BackwardRegionFinder.contract(chosen, in: f)
            BackwardRecompute.pruneForwardExports(in: &f)
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
