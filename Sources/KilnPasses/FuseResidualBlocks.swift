import Foundation
import KilnIR

/// `fuse-residual-blocks`: finds residual blocks by structure (`ResidualBlockMatcher`) and,
/// where the cost model says it pays, replaces each with one `fused` op scheduled row by row
/// (`RowSchedule`). Codegen turns such an op into exactly one kernel.
///
/// Option `fuse-residual-blocks` = `auto` (default), `on` (fuse whatever the row schedule
/// supports) or `off`.
public struct FuseResidualBlocks: Pass {
    public var name: String { "fuse-residual-blocks" }
    public init() {}

    public func run(_ function: Function, context: PassContext) throws -> PassResult {
        let mode = context.options["fuse-residual-blocks"] ?? "auto"
        guard ["auto", "on", "off"].contains(mode) else {
            throw PassError("fuse-residual-blocks=\(mode): choose auto, on or off")
        }
        let blocks = ResidualBlockMatcher.blocks(in: function)
        if blocks.isEmpty { return PassResult(function: function, notes: ["no residual blocks"]) }
        var notes: [String] = []
        var chosen: [(ResidualBlock, Node)] = []
        for (i, block) in blocks.enumerated() {
            var label = "block \(i) (%\(function.name(of: block.input)) -> %\(function.name(of: block.output)), \(block.nodes.count) ops: " +
                block.nodes.map { function.nodes[$0].op.rawValue }.joined(separator: " ") + ")"
            if !block.exports.isEmpty {
                label += ", also returns " + block.exports.map { "%" + function.name(of: $0) }.joined(separator: " ") + " (read outside the block)"
            }
            if mode == "off" { notes.append("\(label): not fused (fuse-residual-blocks=off)"); continue }
            let body = ResidualBlockMatcher.body(of: block, in: function, name: "\(function.name)_block\(i)")
            var schedule: RowSchedule
            do { schedule = try RowSchedule(body: body) } catch {
                notes.append("\(label): not fused: \(error)")
                continue
            }
            var e = FusionCostModel.estimate(body: body, schedule: schedule, machine: context.machine, threads: context.threads)
            // Token blocks: the largest group whose per-thread scratch fits L2 (wide models get
            // fewer tokens per row group rather than no fusion).
            if schedule.rank == 3 {
                let tokens = schedule.rows * schedule.group
                for g in stride(from: schedule.group - 1, through: 1, by: -1) where e.scratchBytes > context.machine.l2Bytes && tokens % g == 0 {
                    guard let smaller = try? RowSchedule(body: body, group: g) else { break }
                    let estimate = FusionCostModel.estimate(body: body, schedule: smaller, machine: context.machine, threads: context.threads)
                    if estimate.scratchBytes <= context.machine.l2Bytes { (schedule, e) = (smaller, estimate) }
                }
            }
            let us = { (s: Double) in String(format: "%.1f us", s * 1e6) }
            let fits = e.scratchBytes <= context.machine.l2Bytes
            // Every row group streams all the block's weights and runs its matmuls on that many
            // rows, which the cost model's occupancy term underrates for very short groups. T
            // with no divisor from 32 to 128 (a prime 131 gives rows of 1 token) stays unfused:
            // on a Zen 3 the FFN block at 2 threads ran 3.2x slower fused in rows of 1 token, and
            // 1.14x / 1.05x / 1.12x slower in rows of 8 / 12 / 16; rows of 32 were 1.12x faster.
            let shortRows = schedule.rank == 3 && schedule.rows > 1 && schedule.group < RowSchedule.minimumTokenGroup
            let decision = mode == "on" || (fits && !shortRows && e.fusedSeconds < e.unfusedSeconds)
            var why = "predicted fused \(us(e.fusedSeconds)) vs separate kernels \(us(e.unfusedSeconds)), roofline \(us(e.rooflineSeconds)); "
            why += "rows of \(schedule.width) pixels\(schedule.group > 1 ? " (\(schedule.group) tokens)" : ""), "
            why += "\(schedule.batch) x \(e.bands) tiles, halo \(schedule.haloRows) rows, scratch \(e.scratchBytes / 1024) KiB per thread"
            if !fits && mode != "on" { why += " (more than L2)" }
            if shortRows && mode != "on" {
                let t = schedule.rows * schedule.group
                why += RowSchedule.tokenGroup(t) < RowSchedule.minimumTokenGroup
                    ? " (rows of under \(RowSchedule.minimumTokenGroup) tokens: T = \(t) has no divisor from \(RowSchedule.minimumTokenGroup) to 128)"
                    : " (rows of under \(RowSchedule.minimumTokenGroup) tokens: the largest group that fits L2)"
            }
            notes.append("\(label): \(decision ? "fused" : "not fused"): \(why)")
            guard decision else { continue }
            let attrs: Attributes = [
                "schedule": .symbol("rows"), "bands": .int(e.bands), "row_group": .int(schedule.group),
                "predicted_us": .float((e.fusedSeconds * 1e7).rounded() / 10), "unfused_us": .float((e.unfusedSeconds * 1e7).rounded() / 10),
                "roofline_us": .float((e.rooflineSeconds * 1e7).rounded() / 10),
            ]
            let outerInputs = body.arguments.map { a in function.value(named: body.name(of: a))! }
            chosen.append((block, Node(op: .fused, inputs: outerInputs, outputs: [block.output] + block.exports, attributes: attrs, regions: [body])))
        }
        return PassResult(function: replacing(chosen, in: function), notes: notes)
    }

    /// `f` with each block's nodes replaced by its fused node (placed where the block ended),
    /// and values that no longer exist dropped.
    private func replacing(_ chosen: [(ResidualBlock, Node)], in f: Function) -> Function {
        guard !chosen.isEmpty else { return f }
        var removed = Set<Int>(), placed: [Int: Node] = [:]
        for (block, node) in chosen {
            removed.formUnion(block.nodes)
            placed[block.nodes.last!] = node
        }
        var nodes: [Node] = []
        for (i, n) in f.nodes.enumerated() {
            if let fused = placed[i] { nodes.append(fused) } else if !removed.contains(i) { nodes.append(n) }
        }
        // Renumber the values that are still defined or used.
        return f.compacted(nodes: nodes)
    }
}
