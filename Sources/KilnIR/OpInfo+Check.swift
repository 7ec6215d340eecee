extension OpInfo {
    /// Checks the operand count against the op's arity.
    public func checkArity(_ count: Int) throws(IRError) {
        if count < minInputs || (maxInputs.map { count > $0 } ?? false) {
            let want: String
            if let maxInputs {
                want = minInputs == maxInputs ? "\(minInputs)" : "\(minInputs) to \(maxInputs)"
            } else {
                want = "at least \(minInputs)"
            }
            throw IRError("\(kind) takes \(want) operand\(want == "1" ? "" : "s") (\(operandNames.joined(separator: ", "))), got \(count)")
        }
    }

    /// Validates attributes (names, kinds, ranges) and returns them with defaults filled in,
    /// which is the canonical form the builder stores and the printer prints.
    public func canonicalAttributes(_ given: Attributes) throws(IRError) -> Attributes {
        var out = given
        for (name, value) in given {
            guard let spec = attribute(named: name) else {
                if allowsUnknownAttributes { continue }
                let known = attributes.map(\.name)
                throw IRError("\(kind) has no attribute '\(name)'" + (known.isEmpty ? "" : " (it takes \(known.joined(separator: ", ")))"))
            }
            guard spec.accepts(value) else {
                throw IRError("\(kind): attribute '\(name)' must be \(spec.kind.describe), got \(value)")
            }
            if let problem = spec.check(value) {
                throw IRError("\(kind): attribute '\(name)' \(problem)")
            }
        }
        for spec in attributes where given[spec.name] == nil {
            guard let d = spec.defaultValue else {
                throw IRError("\(kind) requires attribute '\(spec.name)'")
            }
            out[spec.name] = d
        }
        return out
    }

    /// Full check of one application: arity, attributes, region count, operand types.
    /// Returns the canonical attributes and the result types.
    public func check(inputs: [TensorType], attributes given: Attributes, regions: [Function]) throws(IRError) -> (Attributes, [TensorType]) {
        try checkArity(inputs.count)
        guard regions.count == regionCount else {
            throw IRError("\(kind) takes \(regionCount) region\(regionCount == 1 ? "" : "s"), got \(regions.count)")
        }
        let attrs = try canonicalAttributes(given)
        let types = try inferTypes(inputs, attrs, regions)
        for t in types { try t.validate() }
        if case .fixed(let n) = outputs, types.count != n {
            throw IRError("\(kind): internal error: shape rule returned \(types.count) results, expected \(n)")
        }
        return (attrs, types)
    }
}

extension AttributeKind {
    var describe: String {
        switch self {
        case .int: return "an integer"
        case .float: return "a number"
        case .bool: return "true or false"
        case .ints: return "a list of integers"
        case .floats: return "a list of numbers"
        case .symbol(let s): return "one of " + s.joined(separator: ", ")
        }
    }
}
