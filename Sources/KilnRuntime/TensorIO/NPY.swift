import KilnIR

/// NumPy `.npy` files: versions 1.0-3.0, little-endian f4/f8/i4/i8 and b1, C order.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(_ path: String) throws -> HostTensor {
        try read(data: try readBytes(path), name: path)
    }

    /// Decodes `.npy` bytes; `name` is used in error messages.
    public static func read(data b: [UInt8], name: String) throws -> HostTensor {
        func fail(_ m: String) -> TensorFileError { TensorFileError(file: name, m) }
        guard b.count >= 6, Array(b[0..<6]) == magic else { throw fail("not a .npy file (bad magic bytes)") }
        guard b.count >= 10 else { throw fail("truncated header") }
        let major = b[6]
        guard (1...3).contains(major) else { throw fail("unsupported .npy version \(major).\(b[7])") }
        let lenBytes = major == 1 ? 2 : 4
        guard b.count >= 8 + lenBytes else { throw fail("truncated header") }
        var headerLen = 0
        for k in 0..<lenBytes { headerLen |= Int(b[8 + k]) << (8 * k) }
        let start = 8 + lenBytes
        guard headerLen <= 1 << 20, start + headerLen <= b.count else { throw fail("header length \(headerLen) runs past the end of the file") }
        guard let header = String(validating: b[start..<(start + headerLen)], as: UTF8.self) else { throw fail("header is not valid text") }
        let (descr, fortran, shape) = try parseHeader(header, file: name)
        guard !fortran else { throw fail("fortran_order arrays are not supported; save a C-ordered array") }
        let kinds = ["<f4": "f32", "<f8": "f64", "<i4": "i32", "<i8": "i64", "|b1": "bool", "|u1": "", "<f2": ""]
        guard let kind = kinds[descr], !kind.isEmpty else {
            throw fail("unsupported dtype '\(descr)' (Kiln reads <f4, <f8, <i4, <i8, |b1)")
        }
        let n = try elementCount(shape, file: name, tensor: nil)
        let dataStart = start + headerLen, need = n * RawElements.byteWidth(kind)
        guard b.count - dataStart >= need else {
            throw fail("data is \(b.count - dataStart) bytes but shape \(shape) of \(descr) needs \(need)")
        }
        guard b.count - dataStart == need else { throw fail("\(b.count - dataStart - need) unexpected bytes after the data") }
        return try RawElements.decode(b[dataStart..<(dataStart + need)], kind: kind, shape: shape, file: name, tensor: nil)
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    static func parseHeader(_ h: String, file: String) throws -> (String, Bool, [Int]) {
        func fail(_ m: String) -> TensorFileError { TensorFileError(file: file, "bad header \(m): \(h.prefix(120))") }
        func value(after key: String) throws -> Substring {
            guard let r = h.range(of: "'\(key)'") ?? h.range(of: "\"\(key)\"") else { throw fail("(no '\(key)')") }
            var rest = h[r.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { throw fail("(expected ':' after '\(key)')") }
            rest = rest.dropFirst().drop { $0 == " " }
            return rest
        }
        let d = try value(after: "descr")
        guard let q = d.first, q == "'" || q == "\"", let end = d.dropFirst().firstIndex(of: q) else { throw fail("(descr is not a string)") }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        let f = try value(after: "fortran_order")
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else { throw fail("(fortran_order is not True or False)") }
        let s = try value(after: "shape")
        guard s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("(shape is not a tuple)") }
        var dims: [Int] = []
        for part in s[s.index(after: s.startIndex)..<close].split(separator: ",") {
            let t = part.trimmingCharacters(in: " ")
            if t.isEmpty { continue }
            guard let v = Int(t.hasSuffix("L") ? String(t.dropLast()) : t) else { throw fail("(dimension '\(t)' is not an integer)") }
            dims.append(v)
        }
        return (descr, fortran, dims)
    }

    /// Encodes like `numpy.save` (version 1.0 header, 64-byte aligned, growth padding).
    public static func encode(_ t: HostTensor) -> [UInt8] {
        let descr: String
        switch t.data {
        case .f32: descr = "<f4"
        case .f64: descr = "<f8"
        case .i32: descr = "<i4"
        case .bool: descr = "|b1"
        }
        let shape = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        // numpy leaves room for the first axis to grow in place (GROWTH_AXIS_MAX_DIGITS = 21).
        if let first = t.shape.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let len = header.utf8.count
        return magic + [1, 0, UInt8(len & 0xFF), UInt8(len >> 8)] + Array(header.utf8) + RawElements.encode(t)
    }

    public static func write(_ t: HostTensor, to path: String) throws {
        try writeBytes(encode(t), to: path)
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
