/// Graph IR text: the format `kiln dump` prints and `parseFunction` reads (IR/README.md).
extension Function: CustomStringConvertible {
    /// The function as Graph IR text, ending in a newline. Deterministic: attributes in
    /// sorted order, names as stored.
    public func printed() -> String {
        var out = ""
        print(into: &out, indent: "")
        return out
    }

    public var description: String { printed() }

    func print(into out: inout String, indent: String) {
        let args = arguments.map { a -> String in
            let v = values[a.index]
            return (v.role == .param ? "param " : "") + "%\(v.name): \(v.type)"
        }
        let resultTypes = results.map { type(of: $0).description }.joined(separator: ", ")
        out += "\(indent)func @\(name)(\(args.joined(separator: ", "))) -> (\(resultTypes)) {\n"
        for node in nodes { printNode(node, into: &out, indent: indent + "  ") }
        out += "\(indent)  return \(results.map { "%" + self.name(of: $0) }.joined(separator: ", "))\n"
        out += "\(indent)}\n"
    }

    private func printNode(_ node: Node, into out: inout String, indent: String) {
        var line = indent
        line += node.outputs.map { "%" + name(of: $0) }.joined(separator: ", ")
        line += " = \(node.op.rawValue)"
        if !node.inputs.isEmpty {
            line += " " + node.inputs.map { "%" + name(of: $0) }.joined(separator: ", ")
        }
        if !node.attributes.isEmpty {
            line += " {" + node.attributes.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + "}"
        }
        line += " : " + node.outputs.map { type(of: $0).description }.joined(separator: ", ")
        if node.regions.isEmpty {
            out += line + "\n"
            return
        }
        out += line + " {\n"
        for r in node.regions { r.print(into: &out, indent: indent + "  ") }
        out += indent + "}\n"
    }
}
