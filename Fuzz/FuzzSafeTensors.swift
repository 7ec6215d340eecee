// libFuzzer target: bytes -> SafeTensors.read (header length, strict header JSON, dtypes,
// shapes, data_offsets). Any input must decode or throw TensorFileError; decoded names are
// unique, and re-encoding must decode to the same tensors.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let ts = try? SafeTensors.read(data: bytes, name: "fuzz.safetensors") else { return 0 }
    guard Set(ts.map(\.name)).count == ts.count else { fatalError("duplicate tensor names accepted: \(ts.map(\.name))") }
    guard let enc = try? SafeTensors.encode(ts), let back = try? SafeTensors.read(data: enc, name: "re.safetensors") else {
        fatalError("decoded tensors do not re-encode and decode")
    }
    guard back.map(\.name) == ts.map(\.name), back.map(\.tensor.type) == ts.map(\.tensor.type) else {
        fatalError("round trip changed the tensors")
    }
    return 0
}
