extension OpInfo {
    /// `conv2d(x, weight, bias?)`: operands, with optional ones marked `?` and variadic `...`.
    public var signature: String {
        var names: [String] = []
        for (i, n) in operandNames.enumerated() {
            names.append(n.hasSuffix("...") || i < minInputs ? n : n + "?")
        }
        return "\(kind.rawValue)(\(names.joined(separator: ", ")))"
    }

    /// `stride = [1,1], groups = 1, window (required)`.
    public var attributeSummary: String {
        if attributes.isEmpty { return allowsUnknownAttributes ? "free-form schedule attributes" : "" }
        return attributes.map { a in
            if let d = a.defaultValue { return "\(a.name) = \(d)" }
            return "\(a.name) (required)"
        }.joined(separator: ", ")
    }

    /// The whole op table as Markdown, in `OpKind` order (used by `kiln ops` and IR/README.md).
    public static var markdownTable: String {
        var out = "| op | family | operands | attributes (defaults) | regions |\n|---|---|---|---|---|\n"
        for k in OpKind.allCases {
            let i = k.info
            out += "| `\(k.rawValue)` | \(i.category.rawValue) | `\(i.signature)` | \(i.attributeSummary) | \(i.regionCount) |\n"
        }
        return out
    }
}
