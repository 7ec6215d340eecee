/// Parses Graph IR text (as printed by `Function.printed()`) into a verified `Function`.
///
/// Every error is an `IRError` with the file, line and column and what was expected.
public func parseFunction(_ text: String, file: String = "<input>") throws(IRError) -> Function {
    try parseFunction(bytes: Array(text.utf8), file: file)
}

/// Parses Graph IR from raw bytes; invalid UTF-8 is a diagnostic, not a crash.
public func parseFunction(bytes: [UInt8], file: String) throws(IRError) -> Function {
    var parser = try IRParser(bytes: bytes, file: file)
    let f = try parser.parseFunction(depth: 0)
    let (tok, loc) = parser.peek
    guard tok == .end else { throw IRError("expected end of file after the function, found \(tok.describe)", at: loc) }
    try f.verify()
    return f
}

struct IRParser {
    /// Regions nest at most this deep; deeper text is rejected rather than risking the stack.
    static let maxDepth = 64

    private var lexer: IRLexer
    private(set) var peek: (IRToken, SourceLocation)

    init(bytes: [UInt8], file: String) throws(IRError) {
        lexer = try IRLexer(bytes: bytes, file: file)
        peek = try lexer.next()
    }

    private mutating func take() throws(IRError) -> (IRToken, SourceLocation) {
        let t = peek
        peek = try lexer.next()
        return t
    }

    private mutating func expect(_ p: String, _ context: String) throws(IRError) {
        let (tok, loc) = try take()
        guard tok == .punct(p) else { throw IRError("expected '\(p)' \(context), found \(tok.describe)", at: loc) }
    }

    private mutating func accept(_ p: String) throws(IRError) -> Bool {
        guard peek.0 == .punct(p) else { return false }
        _ = try take()
        return true
    }

    private mutating func keyword(_ word: String, _ context: String) throws(IRError) {
        let (tok, loc) = try take()
        guard tok == .identifier(word) else { throw IRError("expected '\(word)' \(context), found \(tok.describe)", at: loc) }
    }

    private mutating func valueName(_ context: String) throws(IRError) -> (String, SourceLocation) {
        let (tok, loc) = try take()
        guard case .value(let name) = tok else { throw IRError("expected a value name like %x \(context), found \(tok.describe)", at: loc) }
        return (name, loc)
    }

    mutating func parseType() throws(IRError) -> TensorType {
        let (tok, loc) = try take()
        guard case .identifier(let d) = tok, let dtype = DType(rawValue: d) else {
            throw IRError("expected a type like f32[1,4], found \(tok.describe)", at: loc)
        }
        try expect("[", "after element type \(d)")
        var dims: [Int] = []
        if !(try accept("]")) {
            repeat {
                let (t, l) = try take()
                guard case .integer(let v) = t else { throw IRError("expected a dimension, found \(t.describe)", at: l) }
                dims.append(v)
            } while try accept(",")
            try expect("]", "to close the shape")
        }
        let type = TensorType(dtype, dims)
        do { try type.validate() } catch { throw IRError(error.message, at: loc) }
        return type
    }

    /// A function: `func @name(args) -> (types) { nodes return values }`.
    mutating func parseFunction(depth: Int) throws(IRError) -> Function {
        guard depth <= IRParser.maxDepth else {
            throw IRError("regions are nested more than \(IRParser.maxDepth) deep", at: peek.1)
        }
        try keyword("func", "to start a function")
        let (nameTok, nameLoc) = try take()
        guard case .function(let name) = nameTok else { throw IRError("expected a function name like @model, found \(nameTok.describe)", at: nameLoc) }
        var f = Function(name: name)
        var scope: [String: ValueID] = [:]
        try expect("(", "after the function name")
        if !(try accept(")")) {
            repeat {
                var role = ValueRole.input
                if peek.0 == .identifier("param") { _ = try take(); role = .param }
                let (n, loc) = try valueName("for an argument")
                try expect(":", "after argument %\(n)")
                f.arguments.append(try IRParser.define(n, try parseType(), role, loc, &f, &scope))
            } while try accept(",")
            try expect(")", "to close the argument list")
        }
        try expect("->", "before the result types")
        try expect("(", "to open the result types")
        var declared: [TensorType] = []
        if !(try accept(")")) {
            repeat { declared.append(try parseType()) } while try accept(",")
            try expect(")", "to close the result types")
        }
        try expect("{", "to open the function body")
        while true {
            if peek.0 == .identifier("return") { break }
            if peek.0 == .end { throw IRError("unexpected end of file: expected an op or 'return' in @\(name)", at: peek.1) }
            if peek.0 == .punct("}") { throw IRError("expected an op or 'return' before '}' in @\(name)", at: peek.1) }
            try parseNode(into: &f, scope: &scope, depth: depth)
        }
        let retLoc = try take().1
        repeat {
            let (n, loc) = try valueName("after 'return'")
            guard let v = scope[n] else { throw IRError("use of undefined value '%\(n)'", at: loc) }
            f.results.append(v)
        } while try accept(",")
        try expect("}", "to close the function body")
        let actual = f.results.map(f.type(of:))
        guard actual == declared else {
            throw IRError("@\(name) declares results (\(declared.map(\.description).joined(separator: ", "))) but returns (\(actual.map(\.description).joined(separator: ", ")))", at: retLoc)
        }
        return f
    }

    private static func define(_ n: String, _ type: TensorType, _ role: ValueRole, _ loc: SourceLocation,
                               _ f: inout Function, _ scope: inout [String: ValueID]) throws(IRError) -> ValueID {
        guard scope[n] == nil else { throw IRError("value '%\(n)' is defined twice", at: loc) }
        let id = ValueID(f.values.count)
        f.values.append(ValueInfo(type: type, name: n, role: role))
        scope[n] = id
        return id
    }

    private mutating func parseNode(into f: inout Function, scope: inout [String: ValueID], depth: Int) throws(IRError) {
        var results: [(String, SourceLocation)] = []
        repeat { results.append(try valueName("to name an op's result")) } while try accept(",")
        try expect("=", "after the result names")
        let (opTok, opLoc) = try take()
        guard case .identifier(let opName) = opTok else { throw IRError("expected an op name, found \(opTok.describe)", at: opLoc) }
        guard let op = OpKind(rawValue: opName) else {
            throw IRError("unknown op '\(opName)'" + suggestion(for: opName), at: opLoc)
        }
        var inputs: [ValueID] = []
        if case .value = peek.0 {
            repeat {
                let (n, loc) = try valueName("as an operand")
                guard let v = scope[n] else { throw IRError("use of undefined value '%\(n)'", at: loc) }
                inputs.append(v)
            } while try accept(",")
        }
        var attrs = Attributes()
        if try accept("{") {
            if !(try accept("}")) {
                repeat {
                    let (k, kl) = try take()
                    guard case .identifier(let key) = k else { throw IRError("expected an attribute name, found \(k.describe)", at: kl) }
                    guard attrs[key] == nil else { throw IRError("attribute '\(key)' is given twice", at: kl) }
                    try expect("=", "after attribute '\(key)'")
                    attrs[key] = normalize(try parseAttributeValue(), as: op.info.attribute(named: key)?.kind)
                } while try accept(",")
                try expect("}", "to close the attributes")
            }
        }
        do { attrs = try op.info.canonicalAttributes(attrs) } catch { throw IRError(error.message, at: opLoc) }
        try expect(":", "before the result types of \(opName)")
        var types: [TensorType] = []
        repeat { types.append(try parseType()) } while try accept(",")
        guard types.count == results.count else {
            throw IRError("\(opName) names \(results.count) result\(results.count == 1 ? "" : "s") but gives \(types.count) type\(types.count == 1 ? "" : "s")", at: opLoc)
        }
        var regions: [Function] = []
        if try accept("{") {
            while peek.0 == .identifier("func") { regions.append(try parseFunction(depth: depth + 1)) }
            try expect("}", "to close the regions of \(opName)")
        }
        var outs: [ValueID] = []
        for ((n, loc), t) in zip(results, types) { outs.append(try IRParser.define(n, t, .intermediate, loc, &f, &scope)) }
        f.nodes.append(Node(op: op, inputs: inputs, outputs: outs, attributes: attrs, regions: regions, location: opLoc))
    }

    private mutating func parseAttributeValue() throws(IRError) -> Attribute {
        let (tok, loc) = try take()
        switch tok {
        case .integer(let v): return .int(v)
        case .float(let v): return .float(v)
        case .identifier("true"): return .bool(true)
        case .identifier("false"): return .bool(false)
        case .identifier("nan"): return .float(.nan)
        case .identifier("inf"): return .float(.infinity)
        case .identifier(let s): return .symbol(s)
        case .punct("["):
            var ints: [Int] = [], floats: [Double] = [], sawFloat = false
            if try accept("]") { return .ints([]) }
            repeat {
                let (t, l) = try take()
                switch t {
                case .integer(let v): ints.append(v); floats.append(Double(v))
                case .float(let v): sawFloat = true; floats.append(v)
                default: throw IRError("expected a number in the list, found \(t.describe)", at: l)
                }
            } while try accept(",")
            try expect("]", "to close the list")
            return sawFloat ? .floats(floats) : .ints(ints)
        default:
            throw IRError("expected an attribute value, found \(tok.describe)", at: loc)
        }
    }

    /// Integers written where the op expects floats are floats (`eps = 1`, `values = [1,2]`).
    private func normalize(_ a: Attribute, as kind: AttributeKind?) -> Attribute {
        switch (kind, a) {
        case (.float?, .int(let v)): return .float(Double(v))
        case (.floats?, .ints(let v)): return .floats(v.map(Double.init))
        default: return a
        }
    }

    private func suggestion(for name: String) -> String {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var prev = row[0]
                row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let cur = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                    prev = cur
                }
            }
            return row[b.count]
        }
        let a = Array(name.prefix(64))
        let best = OpKind.allCases.map { ($0.rawValue, distance(a, Array($0.rawValue))) }.min { $0.1 < $1.1 }
        guard let (op, d) = best, d <= max(2, op.count / 3) else { return "" }
        return "; did you mean '\(op)'?"
    }
}
