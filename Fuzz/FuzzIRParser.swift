// libFuzzer target: Graph IR text -> parser -> verifier (parseFunction verifies).
// Any input must either parse or throw an IRError with a source location; a crash, hang,
// sanitizer report or an unlocated diagnostic is a finding. A parsed function must also
// print and re-parse (the printer's output is always valid IR).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIRParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let f = try parseFunction(bytes: bytes, file: "fuzz.kir")
        let text = f.printed()
        do { _ = try parseFunction(text, file: "printed.kir") } catch {
            fatalError("printed IR does not parse back: \(error)\n\(text)")
        }
    } catch {
        if error.location == nil { fatalError("diagnostic without a location: \(error)") }
    }
    return 0
}
