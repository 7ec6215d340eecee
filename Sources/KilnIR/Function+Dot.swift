extension Function {
    /// The function as a Graphviz `digraph`: one box per op labeled with its result types,
    /// arguments as ellipses (parameters shaded), region bodies as clusters.
    public func dotGraph() -> String {
        var out = "digraph \"\(name)\" {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n"
        var counter = 0
        emitDot(into: &out, prefix: "f", indent: "  ", counter: &counter)
        return out + "}\n"
    }

    private func emitDot(into out: inout String, prefix: String, indent: String, counter: inout Int) {
        func esc(_ s: String) -> String { String(s.flatMap { $0 == "\"" ? ["\\", "\""] : [$0] }) }
        let producers = producers()
        func nodeID(_ v: ValueID) -> String {
            if let p = producers[v.index] { return "\(prefix)_n\(p)" }
            return "\(prefix)_a\(v.index)"
        }
        for a in arguments {
            let v = values[a.index]
            let style = v.role == .param ? "style=filled, fillcolor=\"#e8e8e8\"" : "style=bold"
            out += "\(indent)\(prefix)_a\(a.index) [shape=ellipse, \(style), label=\"%\(esc(v.name))\\n\(v.type)\"];\n"
        }
        for (i, n) in nodes.enumerated() {
            let types = n.outputs.map { type(of: $0).description }.joined(separator: ", ")
            out += "\(indent)\(prefix)_n\(i) [shape=box, label=\"\(n.op.rawValue)\\n\(types)\"];\n"
            for v in n.inputs { out += "\(indent)\(nodeID(v)) -> \(prefix)_n\(i);\n" }
            for r in n.regions {
                counter += 1
                let sub = "\(prefix)_r\(counter)"
                out += "\(indent)subgraph cluster_\(sub) {\n\(indent)  label=\"\(n.op.rawValue) body @\(esc(r.name))\";\n"
                r.emitDot(into: &out, prefix: sub, indent: indent + "  ", counter: &counter)
                out += "\(indent)}\n"
                out += "\(indent)\(sub)_out -> \(prefix)_n\(i) [style=dashed];\n"
            }
        }
        out += "\(indent)\(prefix)_out [shape=plaintext, label=\"return\"];\n"
        for r in results { out += "\(indent)\(nodeID(r)) -> \(prefix)_out;\n" }
    }
}
