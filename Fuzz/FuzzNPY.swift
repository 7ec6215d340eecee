// libFuzzer target: bytes -> NPY.read. Any input must decode or throw TensorFileError;
// a decoded tensor's element count must match its shape, and re-encoding must decode
// to the same tensor.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let t = try? NPY.read(data: bytes, name: "fuzz.npy") else { return 0 }
    guard t.shape.reduce(1, *) == t.elementCount else { fatalError("shape \(t.shape) vs \(t.elementCount) elements") }
    guard let back = try? NPY.read(data: NPY.encode(t), name: "re.npy") else { fatalError("re-encoded tensor does not decode") }
    guard back.shape == t.shape, back.type == t.type else { fatalError("round trip changed \(t.type) to \(back.type)") }
    return 0
}
