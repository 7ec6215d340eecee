extension Function {
    /// Checks the function is well formed: unique names, every operand defined before use,
    /// each value defined once, attributes canonical and in range, and every recorded type
    /// equal to what the op table infers. Regions are verified recursively.
    ///
    /// Errors carry the node's source location when it came from text.
    public func verify() throws(IRError) {
        var seen = Set<String>()
        var defined = [Bool](repeating: false, count: values.count)
        for v in values {
            guard seen.insert(v.name).inserted else {
                throw IRError("@\(name): value '%\(v.name)' is defined twice")
            }
            do { try v.type.validate() } catch { throw IRError("@\(name): %\(v.name): \(error.message)") }
        }
        for a in arguments {
            guard a.index >= 0, a.index < values.count, !defined[a.index], values[a.index].role != .intermediate else {
                throw IRError("@\(name): bad argument \(a)")
            }
            defined[a.index] = true
        }
        for node in nodes {
            let loc = node.location
            for v in node.inputs {
                guard v.index >= 0, v.index < values.count else { throw IRError("\(node.op): operand \(v) is out of range", at: loc) }
                guard defined[v.index] else {
                    throw IRError("\(node.op): operand '%\(values[v.index].name)' is used before it is defined", at: loc)
                }
            }
            for r in node.regions {
                do { try r.verify() } catch { throw IRError("in region of \(node.op): \(error.message)", at: error.location ?? loc) }
            }
            let expected: (Attributes, [TensorType])
            do {
                expected = try node.op.info.check(inputs: node.inputs.map(type(of:)), attributes: node.attributes, regions: node.regions)
            } catch { throw IRError(error.message, at: loc) }
            guard expected.0 == node.attributes else {
                let missing = expected.0.sortedKeys.filter { node.attributes[$0] == nil }
                throw IRError("\(node.op): attributes are not canonical; missing \(missing.joined(separator: ", "))", at: loc)
            }
            guard node.outputs.count == expected.1.count else {
                throw IRError("\(node.op) produces \(expected.1.count) result\(expected.1.count == 1 ? "" : "s"), but \(node.outputs.count) are named", at: loc)
            }
            for (o, t) in zip(node.outputs, expected.1) {
                guard o.index >= 0, o.index < values.count, !defined[o.index], values[o.index].role == .intermediate else {
                    throw IRError("\(node.op): result \(o) is defined twice or is an argument", at: loc)
                }
                guard values[o.index].type == t else {
                    throw IRError("\(node.op): result '%\(values[o.index].name)' is declared \(values[o.index].type) but the op produces \(t)", at: loc)
                }
                defined[o.index] = true
            }
        }
        guard !results.isEmpty else { throw IRError("@\(name) returns nothing") }
        for r in results {
            guard r.index >= 0, r.index < values.count, defined[r.index] else {
                throw IRError("@\(name): returned value \(r) is not defined")
            }
        }
    }
}
