import Foundation

/// A model ready to run: its graph, the parameter values that came with it (a zoo
/// model's seeded initialization; none for a `.kir` file), and where it came from.
public struct LoadedModel {
    public var function: Function
    public var parameters: [String: HostTensor]
    /// Human-readable origin, e.g. "zoo model convnext-block" or "file model.kir".
    public var origin: String
}

/// Errors of the `Kiln` layer: bad model names, files, bindings. Messages name the thing.
public struct KilnError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Loads models named on the command line: a zoo name or a path to Graph IR text.
public enum ModelLoader {
    /// Loads `spec`: a path to a `.kir` file, or a zoo model name (`kiln models` lists them).
    /// `shape` overrides a zoo model's default input shape; it is an error for a file.
    public static func load(_ spec: String, shape: [Int]? = nil, seed: UInt64 = 0) throws -> LoadedModel {
        if spec.hasSuffix(".kir") || spec.contains("/") || FileManager.default.fileExists(atPath: spec) {
            if shape != nil {
                throw KilnError("--shape applies to zoo models; \(spec) is a file whose types are fixed in its text")
            }
            guard let data = FileManager.default.contents(atPath: spec) else {
                throw KilnError("\(spec): cannot read the file (does it exist?)")
            }
            let function = try parseFunction(bytes: [UInt8](data), file: spec)
            return LoadedModel(function: function, parameters: [:], origin: "file \(spec)")
        }
        guard let model = Zoo.model(named: spec) else {
            let names = Zoo.models.map(\.name).joined(separator: ", ")
            throw KilnError("'\(spec)' is neither a .kir file nor a zoo model; zoo models: \(names)")
        }
        let input: TensorType? = shape.map { TensorType(model.defaultInput.dtype, $0) }
        let traced = try model.trace(input: input, seed: seed)
        var params: [String: HostTensor] = [:]
        for (name, t) in traced.parameters { params[name] = t }
        return LoadedModel(function: traced.function, parameters: params, origin: "zoo model \(spec)")
    }

    /// Parses `2x56x56x96` (or `2,56,56,96`) into dimensions, rejecting zero, negative and absurd sizes.
    public static func parseShape(_ text: String) throws -> [Int] {
        do { return try ArgumentSyntax.parseShape(text) } catch { throw KilnError(error.message) }
    }
}
