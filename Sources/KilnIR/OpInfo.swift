/// The kind of value an attribute must hold.
public enum AttributeKind: Sendable, Equatable {
    case int, float, bool, ints, floats
    /// A symbol from this closed set.
    case symbol([String])
}

/// One attribute an op accepts: its kind, its default (nil: required) and a range check.
public struct AttributeSpec: Sendable {
    public let name: String
    public let kind: AttributeKind
    public let defaultValue: Attribute?
    /// Returns a message when the value is out of range.
    public let check: @Sendable (Attribute) -> String?

    public init(_ name: String, _ kind: AttributeKind, default defaultValue: Attribute? = nil,
                check: @escaping @Sendable (Attribute) -> String? = { _ in nil }) {
        self.name = name
        self.kind = kind
        self.defaultValue = defaultValue
        self.check = check
    }

    /// True when `value` has this spec's kind.
    public func accepts(_ value: Attribute) -> Bool {
        switch (kind, value) {
        case (.int, .int), (.bool, .bool), (.ints, .ints), (.floats, .floats): return true
        case (.float, .float), (.float, .int): return true
        case (.floats, .ints(let v)): return v.isEmpty
        case (.symbol(let allowed), .symbol(let s)): return allowed.contains(s)
        default: return false
        }
    }
}

/// How many results an op has.
public enum OutputArity: Sendable {
    case fixed(Int)
    /// Decided by the shape rule (split, fused, linear_attention with a final state).
    case computed
}

/// Everything Kiln knows about one op, in one place.
public struct OpInfo: Sendable {
    public typealias ShapeRule = @Sendable ([TensorType], Attributes, [Function]) throws(IRError) -> [TensorType]
    public typealias CostRule = @Sendable ([TensorType], [TensorType], Attributes) -> Double

    public let kind: OpKind
    public let category: OpCategory
    /// Names of the operands, for diagnostics and docs. A trailing `...` marks variadic.
    public let operandNames: [String]
    public let minInputs: Int
    /// nil means unbounded (variadic).
    public let maxInputs: Int?
    public let outputs: OutputArity
    public let attributes: [AttributeSpec]
    /// Number of nested regions (0 for all but `repeat` and `fused`).
    public let regionCount: Int
    /// `fused` carries free-form schedule attributes, so unknown names are allowed there.
    public let allowsUnknownAttributes: Bool
    /// Result types from operand types and attributes; throws a message naming both shapes.
    public let inferTypes: ShapeRule
    /// Floating-point operations, counting an FMA as 2.
    public let flops: CostRule

    public func attribute(named name: String) -> AttributeSpec? {
        attributes.first { $0.name == name }
    }

    /// The one op table.
    public static let table: [OpKind: OpInfo] = {
        var t: [OpKind: OpInfo] = [:]
        for info in elementwiseOps() + structuredOps() + layoutOps() + sequenceOps() {
            precondition(t[info.kind] == nil, "duplicate op table entry \(info.kind)")
            t[info.kind] = info
        }
        for k in OpKind.allCases { precondition(t[k] != nil, "op \(k) has no table entry") }
        return t
    }()
}

// MARK: - Helpers for writing table entries

/// Checks for attribute specs.
enum Checks {
    static func positive(_ a: Attribute) -> String? {
        if case .int(let v) = a, v < 1 { return "must be >= 1, got \(v)" }
        if case .ints(let v) = a, let bad = v.first(where: { $0 < 1 }) { return "entries must be >= 1, got \(bad)" }
        return nil
    }
    static func nonNegative(_ a: Attribute) -> String? {
        if case .int(let v) = a, v < 0 { return "must be >= 0, got \(v)" }
        if case .ints(let v) = a, let bad = v.first(where: { $0 < 0 }) { return "entries must be >= 0, got \(bad)" }
        return nil
    }
    static func count(_ n: Int, _ inner: @escaping @Sendable (Attribute) -> String? = { _ in nil }) -> @Sendable (Attribute) -> String? {
        { a in
            if case .ints(let v) = a, v.count != n { return "must have \(n) entries, got \(v.count)" }
            return inner(a)
        }
    }
    static func positiveFloat(_ a: Attribute) -> String? {
        guard let v = a.floatValue else { return nil }
        return v > 0 && v.isFinite ? nil : "must be a finite positive number, got \(formatFloat(v))"
    }
    static func finiteFloat(_ a: Attribute) -> String? {
        guard let v = a.floatValue else { return nil }
        return v.isFinite ? nil : "must be finite, got \(formatFloat(v))"
    }
}

/// Formats two shapes for a mismatch message.
func mismatch(_ op: OpKind, _ what: String, _ a: TensorType, _ b: TensorType) -> IRError {
    IRError("\(op): \(what): \(a) vs \(b)")
}

func elementCountFlops(_ perElement: Double) -> OpInfo.CostRule {
    { _, outs, _ in perElement * Double(outs.first?.elementCount ?? 0) }
}
