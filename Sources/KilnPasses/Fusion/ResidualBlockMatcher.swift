import KilnIR

/// A residual block found by structure: the nodes on every path from `x` to `y` in
/// `add(x, y)` (so `x + f(x)` and `x + gamma * f(x)` alike), the add, and a single-use
/// activation after it when there is one.
public struct ResidualBlock: Sendable {
    /// Node indices in the function, in order; the last one produces `output`.
    public var nodes: [Int]
    /// The block's input (the skip connection).
    public var input: ValueID
    public var output: ValueID
    /// Values computed inside that are also read outside (in a training graph, what the
    /// backward pass reads): the fused op returns them after `output`.
    public var exports: [ValueID] = []
}

/// Finds residual blocks in a function without looking at names.
public enum ResidualBlockMatcher {
    /// Every residual block whose intermediate values are used only inside it, in order;
    /// blocks never overlap (an earlier add claims its nodes first).
    public static func blocks(in f: Function) -> [ResidualBlock] {
        let producers = f.producers(), users = f.users()
        let results = Set(f.results)
        var claimed = Set<Int>()
        var found: [ResidualBlock] = []
        for (addIndex, add) in f.nodes.enumerated() where add.op == .add && !claimed.contains(addIndex) {
            guard add.inputs.count == 2, f.type(of: add.inputs[0]) == f.type(of: add.inputs[1]) else { continue }
            for (x, y) in [(add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])] {
                guard f.role(of: x) != .param, producers[y.index] != nil else { continue }
                let downstream = descendants(of: x, f, users)
                let upstream = ancestors(of: y, f, producers)
                var region = downstream.intersection(upstream)
                guard !region.isEmpty else { continue }
                region.insert(addIndex)
                var output = add.outputs[0]
                // A final activation after the add (ResNet's ReLU) belongs to the block.
                let after = users[output.index]
                if after.count == 1, !results.contains(output), f.nodes[after[0]].op.info.category == .unary {
                    region.insert(after[0])
                    output = f.nodes[after[0]].outputs[0]
                }
                let ordered = region.sorted()
                // Values read outside become extra results, provided every outside reader
                // comes after the block (the fused op takes the block's last position).
                var exports: [ValueID] = []
                var placeable = true
                for i in ordered {
                    for o in f.nodes[i].outputs where o != output {
                        let outside = users[o.index].filter { !region.contains($0) }
                        if outside.isEmpty && !results.contains(o) { continue }
                        exports.append(o)
                        if outside.contains(where: { $0 < ordered.last! }) { placeable = false }
                    }
                }
                guard placeable, region.isDisjoint(with: claimed) else { continue }
                claimed.formUnion(region)
                found.append(ResidualBlock(nodes: ordered, input: x, output: output, exports: exports))
                break
            }
        }
        return found
    }

    /// Nodes that (transitively) read `v`.
    static func descendants(of v: ValueID, _ f: Function, _ users: [[Int]]) -> Set<Int> {
        var seen = Set<Int>(), stack = users[v.index]
        while let n = stack.popLast() {
            guard seen.insert(n).inserted else { continue }
            for o in f.nodes[n].outputs { stack += users[o.index] }
        }
        return seen
    }

    /// Nodes that `v` (transitively) depends on, including its producer.
    static func ancestors(of v: ValueID, _ f: Function, _ producers: [Int?]) -> Set<Int> {
        var seen = Set<Int>(), stack = [producers[v.index]].compactMap { $0 }
        while let n = stack.popLast() {
            guard seen.insert(n).inserted else { continue }
            for i in f.nodes[n].inputs { if let p = producers[i.index] { stack.append(p) } }
        }
        return seen
    }

    /// The block as a closed function of its inputs (names and roles kept), for a `fused` body.
    public static func body(of block: ResidualBlock, in f: Function, name: String) -> Function {
        var g = Function(name: name)
        var map: [ValueID: ValueID] = [:]
        let inside = Set(block.nodes.flatMap { f.nodes[$0].outputs })
        func value(_ v: ValueID, role: ValueRole) -> ValueID {
            if let m = map[v] { return m }
            let id = ValueID(g.values.count)
            g.values.append(ValueInfo(type: f.type(of: v), name: f.name(of: v), role: role))
            map[v] = id
            return id
        }
        // Arguments first: every operand produced outside the block, in first-use order.
        for i in block.nodes {
            for v in f.nodes[i].inputs where !inside.contains(v) && map[v] == nil {
                g.arguments.append(value(v, role: f.role(of: v) == .param ? .param : .input))
            }
        }
        for i in block.nodes {
            var node = f.nodes[i]
            node.inputs = node.inputs.map { map[$0]! }
            node.outputs = node.outputs.map { value($0, role: .intermediate) }
            g.nodes.append(node)
        }
        g.results = ([block.output] + block.exports).map { map[$0]! }
        return g
    }
}
