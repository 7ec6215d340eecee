/// A compile-time attribute value attached to a node (`stride = [1,1]`, `gate = key`).
public enum Attribute: Hashable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case bool(Bool)
    /// A bare symbol from a closed set, such as `gate = key` or `approximate = tanh`.
    case symbol(String)
    case ints([Int])
    case floats([Double])

    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .float(let v): return formatFloat(v)
        case .bool(let v): return v ? "true" : "false"
        case .symbol(let s): return s
        case .ints(let v): return "[" + v.map(String.init).joined(separator: ",") + "]"
        case .floats(let v): return "[" + v.map(formatFloat).joined(separator: ",") + "]"
        }
    }

    public var intValue: Int? { if case .int(let v) = self { return v }; return nil }
    public var boolValue: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var symbolValue: String? { if case .symbol(let v) = self { return v }; return nil }
    public var intsValue: [Int]? { if case .ints(let v) = self { return v }; return nil }
    public var floatsValue: [Double]? { if case .floats(let v) = self { return v }; return nil }
    /// Floats accept an integer literal too (`eps = 1` is 1.0).
    public var floatValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }
}

/// Shortest text that reads back to the same Double, always with a '.' or exponent
/// so it never parses as an integer.
public func formatFloat(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v < 0 ? "-inf" : "inf" }
    let s = String(v) // Swift prints the shortest round-tripping form.
    if s.contains(".") || s.contains("e") { return s }
    return s + ".0"
}

/// A node's attributes: a dictionary printed in sorted key order, so text is deterministic.
public struct Attributes: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var storage: [String: Attribute]

    public init(_ storage: [String: Attribute] = [:]) { self.storage = storage }
    public init(dictionaryLiteral elements: (String, Attribute)...) {
        storage = Dictionary(elements, uniquingKeysWith: { _, b in b })
    }

    public subscript(key: String) -> Attribute? {
        get { storage[key] }
        set { storage[key] = newValue }
    }

    public var isEmpty: Bool { storage.isEmpty }
    public var sortedKeys: [String] { storage.keys.sorted() }

    public func makeIterator() -> some IteratorProtocol<(key: String, value: Attribute)> {
        storage.sorted { $0.key < $1.key }.makeIterator()
    }

    // Typed accessors used by shape rules, the interpreter and codegen. Defaults are
    // filled in by the builder, so a missing attribute here is a verifier error upstream.
    public func int(_ key: String) -> Int { storage[key]?.intValue ?? 0 }
    public func float(_ key: String) -> Double { storage[key]?.floatValue ?? 0 }
    public func bool(_ key: String) -> Bool { storage[key]?.boolValue ?? false }
    public func symbol(_ key: String) -> String { storage[key]?.symbolValue ?? "" }
    public func ints(_ key: String) -> [Int] { storage[key]?.intsValue ?? [] }
    public func floats(_ key: String) -> [Double] { storage[key]?.floatsValue ?? [] }
}
