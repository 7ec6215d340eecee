/// A strict JSON reader for `.safetensors` headers.
///
/// Foundation's `JSONSerialization` silently keeps one of two duplicate keys, so a file with
/// `"w"` described twice would load whichever entry it kept; it also recurses without bound on
/// nested arrays. This reader rejects duplicate keys (naming the key and its byte offset),
/// caps nesting, keeps integers exact (offsets are 64-bit) and works on bytes, so invalid
/// UTF-8 is an error rather than a crash.
enum HeaderJSON: Equatable {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    /// A number written without fraction or exponent that fits in Int64.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    case bool(Bool)
    case null

    /// Deeper nesting than this is refused: safetensors headers are two levels deep.
    static let maxDepth = 32

    static func == (a: HeaderJSON, b: HeaderJSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value for `key` when this is an object.
    subscript(key: String) -> HeaderJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// An exact integer: integer literals, or numbers like `2.0` / `1e3` that are whole.
    var exactInteger: Int64? {
        switch self {
        case .integer(let v): return v
        case .number(let d): return d.isFinite && d.rounded() == d && abs(d) < 9.0e18 ? Int64(d) : nil
        default: return nil
        }
    }

    /// Parses a whole document (surrounding whitespace allowed). Errors are plain messages
    /// with the byte offset of the problem within `bytes`.
    static func parse(_ bytes: ArraySlice<UInt8>) throws(HeaderJSONError) -> HeaderJSON {
        var r = Reader(bytes: bytes)
        r.skipSpace()
        let v = try r.value(depth: 0)
        r.skipSpace()
        guard r.pos == bytes.endIndex else { throw r.error("unexpected text after the JSON value") }
        return v
    }
}

/// Why a header is not acceptable JSON, with the byte offset in the header.
struct HeaderJSONError: Error, Equatable {
    var message: String
    var offset: Int
    var description: String { "\(message) at header byte \(offset)" }
}

private struct Reader {
    let bytes: ArraySlice<UInt8>
    var pos: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        pos = bytes.startIndex
    }

    func error(_ m: String) -> HeaderJSONError { HeaderJSONError(message: m, offset: pos - bytes.startIndex) }

    var peek: UInt8? { pos < bytes.endIndex ? bytes[pos] : nil }

    mutating func skipSpace() {
        while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { pos += 1 }
    }

    mutating func literal(_ word: String, _ v: HeaderJSON) throws(HeaderJSONError) -> HeaderJSON {
        for c in word.utf8 {
            guard peek == c else { throw error("invalid literal (expected \(word))") }
            pos += 1
        }
        return v
    }

    mutating func value(depth: Int) throws(HeaderJSONError) -> HeaderJSON {
        guard depth <= HeaderJSON.maxDepth else { throw error("JSON nested more than \(HeaderJSON.maxDepth) deep") }
        guard let b = peek else { throw error("unexpected end of JSON") }
        switch b {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character 0x\(String(b, radix: 16)) in JSON")
        }
    }

    mutating func object(depth: Int) throws(HeaderJSONError) -> HeaderJSON {
        pos += 1
        var members: [(key: String, value: HeaderJSON)] = []
        var seen = Set<String>()
        skipSpace()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key in JSON object") }
            let keyOffset = pos - bytes.startIndex
            let key = try string()
            guard seen.insert(key).inserted else {
                throw HeaderJSONError(message: "duplicate key \"\(key.prefix(80))\"", offset: keyOffset)
            }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { throw error("expected ':' after a JSON key") }
            pos += 1
            skipSpace()
            members.append((key, try value(depth: depth + 1)))
            skipSpace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
            throw error("expected ',' or '}' in JSON object")
        }
    }

    mutating func array(depth: Int) throws(HeaderJSONError) -> HeaderJSON {
        pos += 1
        var items: [HeaderJSON] = []
        skipSpace()
        if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw error("expected ',' or ']' in JSON array")
        }
    }

    mutating func hex4() throws(HeaderJSONError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = peek else { throw error("truncated \\u escape") }
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - 55
            default: throw error("bad hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    mutating func string() throws(HeaderJSONError) -> String {
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let b = peek else { throw error("unterminated JSON string") }
            pos += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw error("JSON string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw error("unterminated JSON string") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard peek == UInt8(ascii: "\\"), pos + 1 < bytes.endIndex, bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("unpaired surrogate in \\u escape") }
                    out += Array(String(Character(scalar)).utf8)
                default: throw error("bad escape in JSON string")
                }
            case 0..<0x20: throw error("control character in JSON string")
            default: out.append(b)
            }
        }
    }

    mutating func number() throws(HeaderJSONError) -> HeaderJSON {
        let start = pos
        var isInteger = true
        if peek == UInt8(ascii: "-") { pos += 1 }
        func digits(_ r: inout Reader) -> Int {
            var n = 0
            while let b = r.peek, b >= 0x30, b <= 0x39 { r.pos += 1; n += 1 }
            return n
        }
        let intStart = pos
        guard digits(&self) > 0 else { throw error("bad JSON number") }
        guard !(bytes[intStart] == 0x30 && pos - intStart > 1) else { throw error("leading zero in JSON number") }
        if peek == UInt8(ascii: ".") {
            pos += 1
            isInteger = false
            guard digits(&self) > 0 else { throw error("bad JSON number") }
        }
        if let e = peek, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            pos += 1
            isInteger = false
            if let s = peek, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw error("bad JSON number") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let v = Int64(text) { return .integer(v) }
        guard let d = Double(text) else { throw error("bad JSON number") }
        return .number(d)
    }
}
