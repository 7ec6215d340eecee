// libFuzzer target: the command line's tensor-argument syntax (ArgumentSyntax): shapes like
// `2x56x56x96` and input bindings like `x=x.npy`. The input is split at the first NUL: the
// part before is a shape, the part after an input binding. Both must parse or throw an
// IRError; a parsed shape has positive dimensions within the element limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArguments(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.firstIndex(of: 0) ?? bytes.count
    let shapeText = String(decoding: bytes[..<cut], as: UTF8.self)
    let bindingText = String(decoding: bytes[min(cut + 1, bytes.count)...], as: UTF8.self)
    if let dims = try? ArgumentSyntax.parseShape(shapeText) {
        guard !dims.isEmpty, dims.allSatisfy({ $0 > 0 }) else { fatalError("bad dims \(dims) from '\(shapeText)'") }
        var n = 1
        for d in dims {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p <= TensorType.maxElements else { fatalError("oversized shape accepted: \(dims)") }
            n = p
        }
    }
    if let b = try? ArgumentSyntax.parseInputBinding(bindingText) {
        guard !b.path.isEmpty, b.name.map({ !$0.isEmpty }) ?? true else { fatalError("empty part accepted: '\(bindingText)'") }
    }
    return 0
}
