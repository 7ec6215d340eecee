import KilnIR

extension Function {
    /// This function with `nodes` (default: its own) as the body, the values nothing defines or
    /// reads dropped and the rest renumbered in first-use order (arguments, nodes, results).
    /// Passes that remove or replace nodes finish with this.
    func compacted(nodes: [Node]? = nil) -> Function {
        var g = Function(name: name)
        var map: [ValueID: ValueID] = [:]
        func keep(_ v: ValueID) -> ValueID {
            if let m = map[v] { return m }
            let id = ValueID(g.values.count)
            g.values.append(values[v.index])
            map[v] = id
            return id
        }
        g.arguments = arguments.map(keep)
        for var n in nodes ?? self.nodes {
            n.inputs = n.inputs.map(keep)
            n.outputs = n.outputs.map(keep)
            g.nodes.append(n)
        }
        g.results = results.map(keep)
        return g
    }
}
