import Foundation
import KilnIR

/// A problem with a tensor file, naming the file and (when known) the tensor:
/// `weights.safetensors: tensor 'blocks.0.w': data_offsets [0, 100] do not match F32[5,6] (120 bytes)`.
public struct TensorFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var tensor: String?
    public var message: String

    public init(file: String, tensor: String? = nil, _ message: String) {
        self.file = file
        self.tensor = tensor
        self.message = message
    }

    public var description: String {
        "\(file): " + (tensor.map { "tensor '\($0)': " } ?? "") + message
    }
}

/// Reads a whole file, or throws naming it.
func readBytes(_ path: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else { throw TensorFileError(file: path, "no such file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw TensorFileError(file: path, "cannot be read") }
    return [UInt8](data)
}

/// Writes bytes, or throws naming the file.
func writeBytes(_ bytes: [UInt8], to path: String) throws {
    do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
        throw TensorFileError(file: path, "cannot be written: \(error.localizedDescription)")
    }
}

/// Checks a tensor read from a file against the type a function expects.
public func checkTensor(_ t: HostTensor, named name: String, expected: TensorType, file: String) throws {
    guard t.type == expected else {
        throw TensorFileError(file: file, tensor: name, "expected \(expected), got \(t.type)")
    }
}

/// Multiplies dimensions, rejecting negative, zero-overflowing or absurd shapes.
func elementCount(_ shape: [Int], file: String, tensor: String?) throws -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw TensorFileError(file: file, tensor: tensor, "negative dimension \(d) in shape \(shape)") }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o, p <= TensorType.maxElements else { throw TensorFileError(file: file, tensor: tensor, "shape \(shape) is too large") }
        n = p
    }
    return n
}

/// Element decoding shared by both formats (little-endian).
enum RawElements {
    static func decode(_ bytes: ArraySlice<UInt8>, kind: String, shape: [Int], file: String, tensor: String?) throws -> HostTensor {
        let base = bytes.startIndex
        func u32(_ i: Int) -> UInt32 {
            let p = base + 4 * i
            return UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
        }
        func u64(_ i: Int) -> UInt64 {
            let p = base + 8 * i
            var v: UInt64 = 0
            for k in 0..<8 { v |= UInt64(bytes[p + k]) << (8 * UInt64(k)) }
            return v
        }
        let n = shape.reduce(1, *)
        switch kind {
        case "f32": return HostTensor(shape: shape, floats: (0..<n).map { Float(bitPattern: u32($0)) })
        case "f64": return HostTensor(shape: shape, doubles: (0..<n).map { Double(bitPattern: u64($0)) })
        case "i32": return HostTensor(shape: shape, ints: (0..<n).map { Int32(bitPattern: u32($0)) })
        case "i64":
            var out: [Int32] = []
            out.reserveCapacity(n)
            for i in 0..<n {
                let v = Int64(bitPattern: u64(i))
                guard let w = Int32(exactly: v) else {
                    throw TensorFileError(file: file, tensor: tensor, "int64 value \(v) does not fit in i32")
                }
                out.append(w)
            }
            return HostTensor(shape: shape, ints: out)
        case "bool":
            return HostTensor(shape: shape, data: .bool((0..<n).map { bytes[base + $0] != 0 }))
        default:
            throw TensorFileError(file: file, tensor: tensor, "unsupported element type \(kind)")
        }
    }

    static func byteWidth(_ kind: String) -> Int { ["f32": 4, "i32": 4, "f64": 8, "i64": 8, "bool": 1][kind] ?? 0 }

    static func encode(_ t: HostTensor) -> [UInt8] {
        var out: [UInt8] = []
        func put32(_ v: UInt32) { for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(k)))) } }
        func put64(_ v: UInt64) { for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) } }
        switch t.data {
        case .f32(let v): out.reserveCapacity(v.count * 4); v.forEach { put32($0.bitPattern) }
        case .f64(let v): out.reserveCapacity(v.count * 8); v.forEach { put64($0.bitPattern) }
        case .i32(let v): out.reserveCapacity(v.count * 4); v.forEach { put32(UInt32(bitPattern: $0)) }
        case .bool(let v): out = v.map { $0 ? 1 : 0 }
        }
        return out
    }
}
