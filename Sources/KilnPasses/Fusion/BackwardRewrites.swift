import KilnIR

/// Rewrites that let a block's weight and bias gradients join its backward kernel: the
/// autodiff writes them over flattened pixels (`[N, C]` reshapes, a transpose and a GEMM),
/// which is right for an op-by-op executor; a row kernel wants them on image rows.
enum BackwardRewrites {
    /// In `f`, for images of leading shape `lead`:
    /// - `matmul(permute(reshape(x)), reshape(dy))` (x, dy image rows) becomes
    ///   `reshape(conv2d_backward_weight(x, dy))` of a 1x1 convolution, and
    /// - `reduce_sum(reshape(dy), axes [0])` becomes `reduce_sum(dy, axes [0, 1, 2])`;
    /// reshapes and transposes left unused are removed. Returns how many it rewrote.
    static func pixelReductions(in f: inout Function, lead: [Int]) -> Int {
        pixelReductionsRewriting(in: &f, lead: lead).count
    }

    /// As `pixelReductions`, returning the weight-gradient values it created (so a caller can
    /// turn back into a GEMM any that did not join a backward kernel).
    static func pixelReductionsRewriting(in f: inout Function, lead: [Int]) -> (count: Int, weights: Set<ValueID>) {
        let producers = f.producers()
        let pixels = lead.reduce(1, *)
        func rows(_ v: ValueID) -> Bool { let s = f.type(of: v).shape; return s.count == lead.count + 1 && Array(s.dropLast()) == lead }
        /// The image-row value a `[pixels, C]` reshape flattens, if it is one.
        func unflattened(_ v: ValueID) -> ValueID? {
            guard let p = producers[v.index], f.nodes[p].op == .reshape, f.type(of: v).shape.first == pixels,
                  f.type(of: v).rank == 2, rows(f.nodes[p].inputs[0]) else { return nil }
            return f.nodes[p].inputs[0]
        }
        var count = 0
        var weights = Set<ValueID>()
        var replaced: [Int: [Node]] = [:]
        for (i, n) in f.nodes.enumerated() {
            if n.op == .matmul, let p = producers[n.inputs[0].index], f.nodes[p].op == .permute,
               f.nodes[p].attributes.ints("perm") == [1, 0], let x = unflattened(f.nodes[p].inputs[0]), let dy = unflattened(n.inputs[1]) {
                let (cin, cout) = (f.type(of: x).shape.last!, f.type(of: dy).shape.last!)
                let w = ValueID(f.values.count)
                f.values.append(ValueInfo(type: TensorType(.f32, [1, 1, cin, cout]), name: f.name(of: n.outputs[0]) + ".w", role: .intermediate))
                let attrs: Attributes = ["kernel": .ints([1, 1]), "stride": .ints([1, 1]), "padding": .ints([0, 0, 0, 0]),
                                         "dilation": .ints([1, 1]), "groups": .int(1)]
                weights.insert(w)
                replaced[i] = [Node(op: .conv2d_backward_weight, inputs: [x, dy], outputs: [w], attributes: attrs),
                               Node(op: .reshape, inputs: [w], outputs: n.outputs, attributes: ["shape": .ints([cin, cout])])]
                count += 1
            } else if n.op == .reduce_sum, n.attributes.ints("axes") == [0], !n.attributes.bool("keepdims"), let dy = unflattened(n.inputs[0]) {
                var m = n
                m.inputs = [dy]
                m.attributes["axes"] = .ints(Array(0..<lead.count))
                replaced[i] = [m]
                count += 1
            }
        }
        guard count > 0 else { return (0, []) }
        f.nodes = f.nodes.enumerated().flatMap { replaced[$0.offset] ?? [$0.element] }
        // Remove reshapes and transposes nothing reads any more.
        var changed = true
        while changed {
            changed = false
            let users = f.users(), results = Set(f.results)
            f.nodes.removeAll { n in
                let dead = (n.op == .reshape || n.op == .permute) && n.outputs.allSatisfy { users[$0.index].isEmpty && !results.contains($0) }
                if dead { changed = true }
                return dead
            }
        }
        return (count, weights)
    }

    /// Turns each 1x1 `conv2d_backward_weight` in `weights` that is still a node of `f` (it did
    /// not join a backward kernel) back into `x^T . dy` as one GEMM over all pixels, which is
    /// what it was before `pixelReductions` and what an op-by-op executor runs fastest.
    static func restoreGEMMs(in f: inout Function, weights: Set<ValueID>) -> Int {
        var restored = 0
        var nodes: [Node] = []
        for n in f.nodes {
            guard n.op == .conv2d_backward_weight, weights.contains(n.outputs[0]) else { nodes.append(n); continue }
            let (x, dy, w) = (n.inputs[0], n.inputs[1], n.outputs[0])
            let (cin, cout) = (f.type(of: x).shape.last!, f.type(of: dy).shape.last!)
            let pixels = f.type(of: x).elementCount / cin
            func value(_ suffix: String, _ shape: [Int]) -> ValueID {
                f.values.append(ValueInfo(type: TensorType(.f32, shape), name: f.name(of: w) + suffix, role: .intermediate))
                return ValueID(f.values.count - 1)
            }
            let (x2, xt, dy2, m) = (value(".x", [pixels, cin]), value(".xt", [cin, pixels]), value(".dy", [pixels, cout]), value(".m", [cin, cout]))
            nodes += [Node(op: .reshape, inputs: [x], outputs: [x2], attributes: ["shape": .ints([pixels, cin])]),
                      Node(op: .permute, inputs: [x2], outputs: [xt], attributes: ["perm": .ints([1, 0])]),
                      Node(op: .reshape, inputs: [dy], outputs: [dy2], attributes: ["shape": .ints([pixels, cout])]),
                      Node(op: .matmul, inputs: [xt, dy2], outputs: [m]),
                      Node(op: .reshape, inputs: [m], outputs: [w], attributes: ["shape": .ints([1, 1, cin, cout])])]
            restored += 1
        }
        f.nodes = nodes
        return restored
    }
}
