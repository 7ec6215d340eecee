import KilnIR

/// Recomputing a block's forward intermediates inside its backward kernel.
///
/// A backward region's body reads, as arguments, intermediates its forward fused block
/// returns only for the backward pass (the block's "saved" values). Recomputing one means
/// prepending to the backward body the forward body's nodes that compute it from the block's
/// inputs (the checkpoint: the block input, which is saved anyway as the previous block's
/// output, and the parameters). The body is still one row schedule: per row tile, the forward
/// steps fill tile-local rings of rows (a k x k depthwise convolution keeps its k-row ring, as in
/// the forward kernel), then the backward steps read them. The forward kernel then stops
/// writing the value, and nothing holds it between the passes.
enum BackwardRecompute {
    struct Saved {
        /// The body argument, the outer value, the forward fused node, and the value's position in its results.
        var arg: ValueID, outer: ValueID, forward: Int, result: Int
    }

    /// Arguments of backward `body` that a forward fused block of `f` returns besides its output.
    static func saved(body: Function, in f: Function) -> [Saved] {
        let producers = f.producers()
        return body.arguments.compactMap { a in
            guard let v = f.value(named: body.name(of: a)), let p = producers[v.index] else { return nil }
            let n = f.nodes[p]
            guard n.op == .fused, n.attributes.symbol("direction") != "backward", let k = n.outputs.firstIndex(of: v), k > 0 else { return nil }
            return Saved(arg: a, outer: v, forward: p, result: k)
        }
    }

    /// The forward nodes (indices into the forward body) needed to recompute `chosen`, stopping at
    /// the forward body's arguments and at saved values that stay saved.
    static func nodes(for chosen: [Saved], of forward: Int, keeping kept: [Saved], in f: Function) -> [Int] {
        let fb = f.nodes[forward].regions[0]
        let stop = Set(kept.filter { $0.forward == forward }.map { fb.results[$0.result] })
        let producers = fb.producers()
        var needed = Set<Int>()
        var stack = chosen.filter { $0.forward == forward }.map { fb.results[$0.result] }
        while let v = stack.popLast() {
            guard !stop.contains(v), let p = producers[v.index], needed.insert(p).inserted else { continue }
            stack += fb.nodes[p].inputs
        }
        return needed.sorted()
    }

    /// Seconds to recompute `chosen` (the dense matmuls among the forward nodes it needs, at the
    /// cost model's GEMM rate, over `threads`; `flops` counts all of them) and seconds to save them instead (the forward kernel
    /// writes them, the backward reads them back: twice their bytes at DRAM bandwidth).
    static func costs(_ chosen: [Saved], all: [Saved], in f: Function, machine: MachineModel, threads: Int) -> (recompute: Double, save: Double, flops: Double) {
        let t = Double(max(threads, 1))
        var seconds = 0.0, flops = 0.0
        let kept = all.filter { s in !chosen.contains { $0.arg == s.arg } }
        for forward in Set(chosen.map(\.forward)).sorted() {
            let fb = f.nodes[forward].regions[0]
            for i in nodes(for: chosen, of: forward, keeping: kept, in: f) {
                let n = fb.nodes[i]
                let fl = n.op.info.flops(n.inputs.map(fb.type(of:)), n.outputs.map(fb.type(of:)), n.attributes)
                let dense = [.linear, .matmul].contains(n.op) || (n.op == .conv2d && n.attributes.int("groups") == 1)
                // Only the dense matmuls count: the recomputed pointwise and depthwise work joins
                // row passes the backward kernel makes over the same rows anyway (measured:
                // MobileNetV2's backward kernel took the same time with and without it).
                if dense { seconds += fl / (machine.gemmGflopsPerCore * 1e9) }
                flops += fl
            }
        }
        let bytes = Double(chosen.reduce(0) { $0 + f.type(of: $1.outer).elementCount * 4 })
        return (seconds / t, 2 * bytes / (machine.dramGBps * 1e9 * t), flops)
    }

    /// `body` with each value of `chosen` computed inside it from the forward blocks' inputs.
    static func recomputing(body: Function, chosen: [Saved], all: [Saved], in f: Function) -> Function {
        var g = body
        var prepend: [Node] = []
        var names = Set(g.values.map(\.name))
        var argByName = Dictionary(g.arguments.map { (g.name(of: $0), $0) }, uniquingKeysWith: { a, _ in a })
        let kept = all.filter { s in !chosen.contains { $0.arg == s.arg } }
        for forward in Set(chosen.map(\.forward)).sorted() {
            let node = f.nodes[forward], fb = node.regions[0]
            var map: [ValueID: ValueID] = [:]
            for (j, a) in fb.arguments.enumerated() {
                let outer = node.inputs[j], name = f.name(of: outer)
                if let existing = argByName[name] { map[a] = existing; continue }
                let id = ValueID(g.values.count)
                g.values.append(ValueInfo(type: f.type(of: outer), name: name, role: f.role(of: outer) == .param ? .param : .input))
                g.arguments.append(id)
                argByName[name] = id
                names.insert(name)
                map[a] = id
            }
            for s in kept where s.forward == forward { map[fb.results[s.result]] = s.arg }
            var target: [ValueID: ValueID] = [:]
            for s in chosen where s.forward == forward { target[fb.results[s.result]] = s.arg }
            for i in nodes(for: chosen, of: forward, keeping: kept, in: f) {
                var n = fb.nodes[i]
                n.inputs = n.inputs.map { map[$0]! }
                n.outputs = n.outputs.map { o in
                    if let a = target[o] { map[o] = a; return a }
                    var info = fb.values[o.index]
                    var name = info.name
                    while names.contains(name) { name += ".rc" }
                    names.insert(name)
                    info.name = name
                    info.role = .intermediate
                    let id = ValueID(g.values.count)
                    g.values.append(info)
                    map[o] = id
                    return id
                }
                prepend.append(n)
            }
        }
        let recomputed = Set(chosen.map(\.arg))
        for a in recomputed { g.values[a.index].role = .intermediate }
        g.arguments.removeAll { recomputed.contains($0) }
        g.nodes = prepend + g.nodes
        return commonNodesRemoved(g)
    }

    /// Later nodes that repeat an earlier one (same op, operands and attributes; the backward
    /// recomputes `gelu(h)` that the recomputed forward also computes) read the earlier result.
    static func commonNodesRemoved(_ body: Function) -> Function {
        var g = body
        var seen: [Node] = []
        var replace: [ValueID: ValueID] = [:]
        var nodes: [Node] = []
        let results = Set(g.results)
        for var n in g.nodes {
            n.inputs = n.inputs.map { replace[$0] ?? $0 }
            if n.outputs.count == 1, n.regions.isEmpty, !results.contains(n.outputs[0]),
               let e = seen.first(where: { $0.op == n.op && $0.inputs == n.inputs && $0.attributes == n.attributes }) {
                replace[n.outputs[0]] = e.outputs[0]
                continue
            }
            if n.outputs.count == 1, n.regions.isEmpty { seen.append(n) }
            nodes.append(n)
        }
        g.nodes = nodes
        return g
    }

    /// Drops from each forward fused node of `f` the returned intermediates nothing reads any
    /// more (the forward kernel no longer writes them); a copy that returns nothing read is removed.
    static func pruneForwardExports(in f: inout Function) {
        var users = f.users()
        let results = Set(f.results)
        var removed = Set<Int>()
        for (i, n) in f.nodes.enumerated() where n.op == .fused && n.attributes.symbol("direction") != "backward" && n.outputs.count > 1 {
            var node = n
            let keep = n.outputs.indices.filter { $0 == 0 || !users[n.outputs[$0].index].isEmpty || results.contains(n.outputs[$0]) }
            guard keep.count < n.outputs.count else { continue }
            node.outputs = keep.map { n.outputs[$0] }
            node.regions[0].results = keep.map { n.regions[0].results[$0] }
            f.nodes[i] = node
            if keep == [0], users[n.outputs[0].index].isEmpty, !results.contains(n.outputs[0]) { removed.insert(i) }
        }
        f.nodes = f.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        users = f.users()
        _ = users
    }
}

extension BackwardRecompute {
    /// "%name f32[...] (N KiB)" for a value of `f`.
    static func describe(_ v: ValueID, in f: Function) -> String {
        let t = f.type(of: v)
        return "%\(f.name(of: v)) \(t) (\(t.elementCount * 4 / 1024) KiB)"
    }
}
