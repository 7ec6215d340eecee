/// Tokens of Graph IR text.
enum IRToken: Equatable {
    case identifier(String)   // op names, keywords, dtypes, attribute keys, symbols
    case value(String)        // %name
    case function(String)     // @name
    case integer(Int)
    case float(Double)
    case punct(String)        // ( ) { } [ ] , : = ->
    case end

    var describe: String {
        switch self {
        case .identifier(let s): return "'\(s)'"
        case .value(let s): return "'%\(s)'"
        case .function(let s): return "'@\(s)'"
        case .integer(let v): return "'\(v)'"
        case .float(let v): return "'\(formatFloat(v))'"
        case .punct(let p): return "'\(p)'"
        case .end: return "end of file"
        }
    }
}

/// Splits bytes into tokens with 1-based line and column. Works on bytes so that
/// invalid UTF-8 or NUL bytes become diagnostics, never crashes.
struct IRLexer {
    let bytes: [UInt8]
    let file: String
    private(set) var pos = 0
    private(set) var line = 1
    private(set) var column = 1

    init(bytes: [UInt8], file: String) throws(IRError) {
        self.bytes = bytes
        self.file = file
        try checkUTF8()
    }

    var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    /// Rejects invalid UTF-8 anywhere, naming the first bad byte's position.
    private func checkUTF8() throws(IRError) {
        var i = 0, line = 1, col = 1
        while i < bytes.count {
            let b = bytes[i]
            var len = 0
            if b < 0x80 { len = 1 } else if b & 0xE0 == 0xC0, b >= 0xC2 { len = 2 } else if b & 0xF0 == 0xE0 { len = 3 } else if b & 0xF8 == 0xF0, b <= 0xF4 { len = 4 }
            var ok = len > 0 && i + len <= bytes.count
            if ok { for j in 1..<len where bytes[i + j] & 0xC0 != 0x80 { ok = false } }
            guard ok else {
                throw IRError("invalid UTF-8 (byte 0x\(String(b, radix: 16)))", at: SourceLocation(file: file, line: line, column: col))
            }
            if b == UInt8(ascii: "\n") { line += 1; col = 1 } else { col += 1 }
            i += len
        }
    }

    private mutating func advance() {
        if bytes[pos] == UInt8(ascii: "\n") { line += 1; column = 1 } else if bytes[pos] & 0xC0 != 0x80 { column += 1 }
        pos += 1
    }

    private func peekByte(_ offset: Int = 0) -> UInt8? { pos + offset < bytes.count ? bytes[pos + offset] : nil }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D
    }
    static func isIdentStart(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Skips whitespace and `//` comments.
    private mutating func skipTrivia() {
        while let b = peekByte() {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                advance()
            } else if b == 0x2F, peekByte(1) == 0x2F {
                while let c = peekByte(), c != 0x0A { advance() }
            } else {
                return
            }
        }
    }

    /// The next token and where it starts.
    mutating func next() throws(IRError) -> (IRToken, SourceLocation) {
        skipTrivia()
        let loc = location
        guard let b = peekByte() else { return (.end, loc) }
        if b == UInt8(ascii: "%") || b == UInt8(ascii: "@") {
            advance()
            let start = pos
            while let c = peekByte(), IRLexer.isNameByte(c) { advance() }
            guard pos > start else {
                throw IRError("expected a name after '\(Character(UnicodeScalar(b)))'", at: loc)
            }
            let name = String(decoding: bytes[start..<pos], as: UTF8.self)
            return (b == UInt8(ascii: "%") ? .value(name) : .function(name), loc)
        }
        if IRLexer.isIdentStart(b) {
            let start = pos
            while let c = peekByte(), IRLexer.isIdentStart(c) || IRLexer.isDigit(c) { advance() }
            return (.identifier(String(decoding: bytes[start..<pos], as: UTF8.self)), loc)
        }
        if IRLexer.isDigit(b) || (b == UInt8(ascii: "-") && (peekByte(1).map(IRLexer.isDigit) ?? false || peekByte(1) == UInt8(ascii: "i"))) {
            return (try number(at: loc), loc)
        }
        if b == UInt8(ascii: "-"), peekByte(1) == UInt8(ascii: ">") {
            advance(); advance()
            return (.punct("->"), loc)
        }
        if "(){}[],:=".utf8.contains(b) {
            advance()
            return (.punct(String(UnicodeScalar(b))), loc)
        }
        let shown = b < 0x20 || b >= 0x7F ? "byte 0x\(String(b, radix: 16))" : "'\(Character(UnicodeScalar(b)))'"
        throw IRError("unexpected character \(shown)", at: loc)
    }

    private mutating func number(at loc: SourceLocation) throws(IRError) -> IRToken {
        let start = pos
        if peekByte() == UInt8(ascii: "-") { advance() }
        if peekByte() == UInt8(ascii: "i") {  // -inf
            while let c = peekByte(), IRLexer.isIdentStart(c) { advance() }
            let text = String(decoding: bytes[start..<pos], as: UTF8.self)
            guard text == "-inf" else { throw IRError("expected a number, found '\(text)'", at: loc) }
            return .float(-.infinity)
        }
        var isFloat = false
        while let c = peekByte(), IRLexer.isDigit(c) { advance() }
        if peekByte() == UInt8(ascii: "."), peekByte(1).map(IRLexer.isDigit) ?? false {
            isFloat = true
            advance()
            while let c = peekByte(), IRLexer.isDigit(c) { advance() }
        }
        if let e = peekByte(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            isFloat = true
            advance()
            if let s = peekByte(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { advance() }
            guard let d = peekByte(), IRLexer.isDigit(d) else { throw IRError("expected digits in the exponent of a number", at: loc) }
            while let c = peekByte(), IRLexer.isDigit(c) { advance() }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isFloat {
            guard let v = Double(text), v.isFinite else { throw IRError("number '\(text)' is out of range", at: loc) }
            return .float(v)
        }
        guard let v = Int(text) else { throw IRError("integer '\(text)' does not fit in 64 bits", at: loc) }
        return .integer(v)
    }
}
