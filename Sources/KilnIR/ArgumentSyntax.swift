/// The small text syntaxes of the command line's tensor arguments: shapes like `2x56x56x96`
/// and input bindings like `x=x.npy`.
///
/// They live here, with no dependencies beyond the IR's types, so that the CLI, the library
/// and the argument fuzzer (`Fuzz/FuzzArguments.swift`) all run exactly the same code.
public enum ArgumentSyntax {
    /// Parses `2x56x56x96` (or `2,56,56,96`) into dimensions, rejecting empty text, zero,
    /// negative, non-numeric and absurd sizes (more than 2^40 elements, or overflow).
    public static func parseShape(_ text: String) throws(IRError) -> [Int] {
        let shown = text.count > 80 ? String(text.prefix(80)) + "..." : text
        let parts = text.split(separator: "x", omittingEmptySubsequences: false).flatMap {
            $0.split(separator: "X", omittingEmptySubsequences: false)
        }.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        guard !text.isEmpty else { throw IRError("shape '' is empty; write it like 1x56x56x96") }
        guard parts.count <= 64 else { throw IRError("shape '\(shown)' has \(parts.count) dimensions; Kiln takes at most 64") }
        var dims: [Int] = []
        for p in parts {
            guard let d = Int(p), d > 0 else {
                throw IRError("shape '\(shown)': '\(p.prefix(40))' is not a positive integer; write it like 1x56x56x96")
            }
            dims.append(d)
        }
        do { try TensorType(.f32, dims).validate() } catch { throw IRError("shape '\(shown)': \(error.message)") }
        return dims
    }

    /// Splits `name=path` into its parts; plain `path` (no `=`) gives a nil name, meaning
    /// "the model's only input". Empty names or paths are errors.
    public static func parseInputBinding(_ spec: String) throws(IRError) -> (name: String?, path: String) {
        guard let eq = spec.firstIndex(of: "=") else {
            guard !spec.isEmpty else { throw IRError("--input needs a file: write name=file.npy") }
            return (nil, spec)
        }
        let name = String(spec[..<eq]), path = String(spec[spec.index(after: eq)...])
        guard !name.isEmpty else { throw IRError("--input \(spec): the input name before '=' is empty; write name=file.npy") }
        guard !path.isEmpty else { throw IRError("--input \(spec): the file after '=' is empty; write name=file.npy") }
        return (name, path)
    }
}
