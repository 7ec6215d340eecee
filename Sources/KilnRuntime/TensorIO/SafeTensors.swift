import Foundation
import KilnIR

/// `.safetensors` files: an 8-byte little-endian header length, a JSON header mapping
/// names to dtype, shape and data_offsets, then one contiguous byte buffer.
///
/// Reading is strict: duplicate names, overlapping or gapped data, unknown dtypes and
/// shapes that disagree with their byte ranges are errors naming the tensor.
public enum SafeTensors {
    static let dtypes = ["F32": "f32", "F64": "f64", "I32": "i32", "I64": "i64", "BOOL": "bool"]
    static let maxHeader = 100 << 20

    public static func read(_ path: String) throws -> [(name: String, tensor: HostTensor)] {
        try read(data: try readBytes(path), name: path)
    }

    /// Decodes a file's bytes; tensors come back in data order. `name` is used in errors.
    public static func read(data b: [UInt8], name file: String) throws -> [(name: String, tensor: HostTensor)] {
        func fail(_ m: String, _ t: String? = nil) -> TensorFileError { TensorFileError(file: file, tensor: t, m) }
        guard b.count >= 8 else { throw fail("too short for a safetensors header (\(b.count) bytes)") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(b[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(maxHeader), 8 + Int(n) <= b.count else {
            throw fail("header length \(n) is larger than the file (\(b.count) bytes) or 100 MB")
        }
        let header: HeaderJSON
        do { header = try HeaderJSON.parse(b[8..<(8 + Int(n))]) } catch {
            throw fail("header is not valid JSON: \(error.description)")
        }
        guard case .object(let members) = header else { throw fail("header is not a JSON object") }
        let bufferStart = 8 + Int(n), bufferSize = b.count - bufferStart
        var entries: [(name: String, kind: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, info) in members where name != "__metadata__" {
            guard case .object = info else { throw fail("entry is not an object", name) }
            guard case .string(let dt)? = info["dtype"] else { throw fail("missing \"dtype\"", name) }
            guard let kind = dtypes[dt] else { throw fail("unsupported dtype \(dt.prefix(40)) (Kiln reads F32, F64, I32, I64, BOOL)", name) }
            guard case .array(let dims)? = info["shape"] else { throw fail("missing \"shape\"", name) }
            let shape = try dims.map { d -> Int in
                guard let v = d.exactInteger else { throw fail("shape has a non-integer dimension", name) }
                return Int(v)
            }
            guard case .array(let off)? = info["data_offsets"], off.count == 2,
                  let b0 = off[0].exactInteger, let e0 = off[1].exactInteger else {
                throw fail("missing or malformed \"data_offsets\"", name)
            }
            let count = try elementCount(shape, file: file, tensor: name)
            let bytes = count * RawElements.byteWidth(kind)
            guard b0 >= 0, e0 >= b0, e0 <= Int64(bufferSize) else {
                throw fail("data_offsets [\(b0), \(e0)] lie outside the \(bufferSize)-byte data buffer", name)
            }
            guard Int(e0 - b0) == bytes else {
                throw fail("data_offsets [\(b0), \(e0)] do not match \(dt)\(shape) (\(bytes) bytes)", name)
            }
            entries.append((name, kind, shape, Int(b0), Int(e0)))
        }
        if let meta = header["__metadata__"] {
            guard case .object = meta else { throw fail("__metadata__ is not an object") }
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expected = 0
        for e in entries {
            guard e.begin == expected else {
                throw fail(e.begin < expected ? "data overlaps the previous tensor (starts at \(e.begin), previous ends at \(expected))"
                                              : "gap in the data buffer before offset \(e.begin)", e.name)
            }
            expected = e.end
        }
        guard expected == bufferSize else { throw fail("\(bufferSize - expected) bytes after the last tensor are not described by the header") }
        return try entries.map { e in
            (e.name, try RawElements.decode(b[(bufferStart + e.begin)..<(bufferStart + e.end)], kind: e.kind, shape: e.shape, file: file, tensor: e.name))
        }
    }

    /// Encodes tensors in the given order, header padded with spaces to 8 bytes.
    public static func encode(_ tensors: [(name: String, tensor: HostTensor)], metadata: [String: String] = [:], file: String = "<memory>") throws -> [UInt8] {
        var seen = Set<String>()
        var parts: [String] = []
        var buffer: [UInt8] = []
        for (name, t) in tensors {
            guard seen.insert(name).inserted else { throw TensorFileError(file: file, tensor: name, "name appears twice") }
            guard name != "__metadata__" else { throw TensorFileError(file: file, tensor: name, "reserved name") }
            let dt: String
            switch t.data {
            case .f32: dt = "F32"
            case .f64: dt = "F64"
            case .i32: dt = "I32"
            case .bool: dt = "BOOL"
            }
            let bytes = RawElements.encode(t)
            parts.append("\(jsonString(name)):{\"dtype\":\"\(dt)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(buffer.count),\(buffer.count + bytes.count)]}")
            buffer += bytes
        }
        if !metadata.isEmpty {
            let m = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            parts.insert("\"__metadata__\":{\(m.joined(separator: ","))}", at: 0)
        }
        var header = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out: [UInt8] = []
        for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64(k)))) }
        return out + header + buffer
    }

    public static func write(_ tensors: [(name: String, tensor: HostTensor)], to path: String, metadata: [String: String] = [:]) throws {
        try writeBytes(try encode(tensors, metadata: metadata, file: path), to: path)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
