import KilnIR

/// A group of backward nodes that can run as one row-scheduled kernel: every node maps rows
/// of one image shape `[B, H, W, *]` to rows of the same shape, and no path leaves the group
/// and comes back (so the group can become one node).
public struct BackwardRegion: Sendable {
    /// Node indices in the function, in order.
    public var nodes: [Int]
    /// Values computed inside and read outside (or returned): the fused op's results.
    public var exports: [ValueID]
}

/// Finds backward regions in a training graph, after `fuse-residual-blocks`.
public enum BackwardRegionFinder {
    /// Whether node `n` of `f` can run row by row on images of leading shape `lead`
    /// (`[B, H, W]`): elementwise ops, per-pixel channel reductions, and `linear` with a
    /// weight computed outside the rows (the data gradient `dy . w^T`).
    static func isRowNode(_ n: Node, in f: Function, lead: [Int]) -> Bool {
        func rows(_ v: ValueID) -> Bool { let s = f.type(of: v).shape; return s.count == lead.count + 1 && Array(s.dropLast()) == lead }
        if isPixelReduction(n, in: f, lead: lead) { return true }
        guard n.outputs.count == 1, rows(n.outputs[0]), f.type(of: n.outputs[0]).dtype == .f32 else { return false }
        switch n.op.info.category {
        case .unary: return rows(n.inputs[0])
        case .binary: return n.inputs.contains(where: rows)
        default: break
        }
        switch n.op {
        case .linear: return rows(n.inputs[0]) && f.type(of: n.inputs[1]).rank == 2
        case .conv2d_backward_input:
            // Depthwise, same size: a k x k convolution of dy with the flipped kernel (a ring of rows).
            let a = n.attributes, w = f.type(of: n.inputs[1]).shape, pad = a.ints("padding"), ch = f.type(of: n.outputs[0]).shape.last!
            return rows(n.inputs[0]) && w.count == 4 && a.int("groups") == ch && a.ints("stride") == [1, 1] && a.ints("dilation") == [1, 1]
                && pad[0] + pad[1] == w[0] - 1 && pad[2] + pad[3] == w[1] - 1
        case .reduce_sum, .reduce_mean:
            let axes = n.attributes.ints("axes")
            return rows(n.inputs[0]) && n.attributes.bool("keepdims") && (axes == [-1] || axes == [lead.count])
        default: return false
        }
    }

    /// Whether `n` reduces image rows over every pixel in a way a row kernel accumulates per
    /// tile: reduce_sum over [B, H, W], or the weight gradient of a same-size 1x1 dense or
    /// k x k depthwise convolution.
    static func isPixelReduction(_ n: Node, in f: Function, lead: [Int]) -> Bool {
        func rows(_ v: ValueID) -> Bool { let s = f.type(of: v).shape; return s.count == lead.count + 1 && Array(s.dropLast()) == lead }
        guard n.outputs.count == 1, let first = n.inputs.first, rows(first) else { return false }
        switch n.op {
        case .reduce_sum:
            return n.attributes.ints("axes") == Array(0..<lead.count) && !n.attributes.bool("keepdims")
        case .conv2d_backward_weight:
            let a = n.attributes, k = a.ints("kernel"), pad = a.ints("padding"), groups = a.int("groups")
            let (cin, cout) = (f.type(of: first).shape.last!, f.type(of: n.inputs[1]).shape.last!)
            guard lead.count == 3, rows(n.inputs[1]), a.ints("stride") == [1, 1], a.ints("dilation") == [1, 1],
                  pad[0] + pad[1] == k[0] - 1, pad[2] + pad[3] == k[1] - 1 else { return false }
            return (groups == 1 && k == [1, 1]) || (groups == cin && cin == cout)
        default:
            return false
        }
    }

    /// Why node `n` does not run row by row (for the pass's notes), or nil when it does.
    public static func reason(_ n: Node, in f: Function, lead: [Int]) -> String? {
        if isRowNode(n, in: f, lead: lead) { return nil }
        let out = f.type(of: n.outputs[0]).shape
        switch n.op {
        case .conv2d_backward_weight: return "weight gradient (a reduction over all pixels)"
        case .matmul: return "matmul over all pixels (weight gradient)"
        case .permute: return "transpose (of a weight, for a dy . w^T row matmul)"
        case .reduce_sum, .reduce_mean: return "reduction over pixels (bias, scale or loss)"
        case .conv2d_backward_input: return "convolution input gradient that is not a same-size depthwise convolution"
        case .broadcast, .constant, .reshape: return "layout or constant (no kernel of its own, or a fill)"
        default:
            if out.count != lead.count + 1 || Array(out.dropLast()) != lead { return "output \(f.type(of: n.outputs[0])) is not made of image rows" }
            return "\(n.op) is not run row by row"
        }
    }

    /// Regions over the nodes after the first fused forward block, greedily in program order:
    /// a row node joins the open region unless one of its operands depends on the region
    /// through a node outside it (that would make a cycle); then a new region starts. Nodes
    /// that read nothing from their region and feed nothing in it are dropped again (they
    /// would only add an export), and regions of fewer than `minimumNodes` are not kept.
    public static func regions(in f: Function, lead: [Int], minimumNodes: Int = 3) -> [BackwardRegion] {
        guard let firstFused = f.nodes.firstIndex(where: { $0.op == .fused }) else { return [] }
        let producers = f.producers()
        var found: [[Int]] = []
        var region = Set<Int>(), tainted = Set<Int>()
        func close() {
            if !region.isEmpty { found.append(region.sorted()) }
            region = []; tainted = []
        }
        for i in f.nodes.indices where i > firstFused {
            let n = f.nodes[i]
            let fromRegionOrTaint = n.inputs.compactMap { producers[$0.index] }.filter { region.contains($0) || tainted.contains($0) }
            if isRowNode(n, in: f, lead: lead) {
                if fromRegionOrTaint.contains(where: { tainted.contains($0) }) { close() }
                region.insert(i)
            } else if !fromRegionOrTaint.isEmpty {
                tainted.insert(i)
            }
        }
        close()
        let users = f.users(), results = Set(f.results)
        return found.compactMap { nodes in
            var keep = Set(nodes)
            var changed = true
            while changed {
                changed = false
                for i in keep.sorted() {
                    let n = f.nodes[i]
                    let readsInside = n.inputs.contains { producers[$0.index].map(keep.contains) ?? false }
                    let feedsInside = users[n.outputs[0].index].contains(where: keep.contains)
                    if !readsInside && !feedsInside { keep.remove(i); changed = true }
                }
            }
            guard keep.count >= minimumNodes else { return nil }
            let ordered = keep.sorted()
            let exports = ordered.flatMap { f.nodes[$0].outputs }.filter { o in
                results.contains(o) || users[o.index].contains { !keep.contains($0) }
            }
            let lead1 = lead.count + 1
            let exportsSorted = exports.filter { f.type(of: $0).rank == lead1 && Array(f.type(of: $0).shape.dropLast()) == lead }
                + exports.filter { !(f.type(of: $0).rank == lead1 && Array(f.type(of: $0).shape.dropLast()) == lead) }
            guard !exportsSorted.isEmpty else { return nil }
            return BackwardRegion(nodes: ordered, exports: exportsSorted)
        }
    }
}

extension BackwardRegionFinder {
    /// `f` with each region's nodes replaced by its fused node. Nodes are put back in a
    /// topological order that keeps the original order where it can (the fused node takes its
    /// region's last position), since an outside reader of an export may sit between region nodes.
    static func contract(_ chosen: [(BackwardRegion, Node)], in f: Function) throws -> Function {
        guard !chosen.isEmpty else { return f }
        // Items: (position, node). Region nodes collapse into one item at the region's last index.
        var inRegion: [Int: Int] = [:]
        for (r, (region, _)) in chosen.enumerated() { for i in region.nodes { inRegion[i] = r } }
        var items: [(position: Int, node: Node)] = []
        for (i, n) in f.nodes.enumerated() where inRegion[i] == nil { items.append((i, n)) }
        for (region, node) in chosen { items.append((region.nodes.last!, node)) }
        items.sort { $0.position < $1.position }
        // Kahn's algorithm, always taking the ready item with the smallest position.
        var producer: [ValueID: Int] = [:]
        for (k, it) in items.enumerated() { for o in it.node.outputs { producer[o] = k } }
        var waiting = [Int](repeating: 0, count: items.count)
        var readers = [[Int]](repeating: [], count: items.count)
        for (k, it) in items.enumerated() {
            for p in Set(it.node.inputs.compactMap { producer[$0] }) where p != k {
                waiting[k] += 1
                readers[p].append(k)
            }
        }
        var ready = Set(items.indices.filter { waiting[$0] == 0 })
        var g = f
        g.nodes = []
        while let k = ready.min(by: { items[$0].position < items[$1].position }) {
            ready.remove(k)
            g.nodes.append(items[k].node)
            for r in readers[k] {
                waiting[r] -= 1
                if waiting[r] == 0 { ready.insert(r) }
            }
        }
        guard g.nodes.count == items.count else { throw PassError("fuse-block-backward: a backward region would form a cycle") }
        return g
    }
}
