import KilnIR
import RealModule

/// A runtime failure with a message naming the tensor (and both shapes when they differ).
public struct RuntimeError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The reference interpreter: runs any Graph IR function (including `repeat` and `fused`
/// regions) in plain Swift. It is the oracle every compiled result is tested against.
public struct Interpreter: Sendable {
    public enum Precision: Sendable { case f32, f64 }

    public let precision: Precision

    public init(precision: Precision = .f32) { self.precision = precision }

    /// Runs `f`. `inputs` binds runtime inputs AND parameters by name; every argument must
    /// be bound with its declared type. Results are `.f32` (or `.f64` in fp64 mode) tensors.
    public func run(_ f: Function, inputs: [String: HostTensor]) throws -> [HostTensor] {
        try Interpreter.validate(f, inputs)
        switch precision {
        case .f32: return try execute(f, inputs, as: Float.self)
        case .f64: return try execute(f, inputs, as: Double.self)
        }
    }

    private func execute<S: InterpScalar>(_ f: Function, _ inputs: [String: HostTensor], as: S.Type) throws -> [HostTensor] {
        let args = f.arguments.map { a -> Buffer<S> in
            let t = inputs[f.name(of: a)]!
            switch t.data {
            case .f32(let v): return .float(v.map { S(Double($0)) })
            case .f64(let v): return .float(v.map { S($0) })
            case .i32(let v): return .int(v)
            case .bool(let v): return .bool(v)
            }
        }
        let outs = try Engine<S>().run(f, args)
        return zip(f.results, outs).map { r, b in
            let shape = f.type(of: r).shape
            switch b {
            case .float(let v): return S.self == Double.self ? HostTensor(shape: shape, doubles: v.map { Double($0) })
                                                             : HostTensor(shape: shape, floats: v.map { Float($0) })
            case .int(let v): return HostTensor(shape: shape, ints: v)
            case .bool(let v): return HostTensor(shape: shape, data: .bool(v))
            }
        }
    }

    /// Checks names, dtypes and shapes of every binding before anything runs.
    /// - Parameter checkMemory: also check that every value of `f` fits in the memory
    ///   available now (it reads /proc/meminfo). An `Executable` did that, and allocated its
    ///   arena, when it was built, so its runs skip it.
    static func validate(_ f: Function, _ inputs: [String: HostTensor], checkMemory: Bool = true) throws {
        let expected = f.arguments.map { (f.name(of: $0), f.type(of: $0), f.role(of: $0)) }
        let names = Set(expected.map(\.0))
        if checkMemory { try MemoryBudget.checkValues(of: f) }
        if let unknown = inputs.keys.sorted().first(where: { !names.contains($0) }) {
            throw RuntimeError("'\(unknown)' is not an input or parameter of @\(f.name); expected: \(expected.map(\.0).joined(separator: ", "))")
        }
        for (name, type, role) in expected {
            let what = role == .param ? "parameter" : "input"
            guard let t = inputs[name] else { throw RuntimeError("missing \(what) '\(name)' of type \(type)") }
            guard t.type == type else { throw RuntimeError("\(what) '\(name)': expected \(type), got \(t.type)") }
            // HostTensor's fields are public vars: a shape edited after construction must not
            // let a short array through to code that reads shape-many elements.
            guard t.elementCount == type.elementCount else {
                throw RuntimeError("\(what) '\(name)': shape \(t.shape) needs \(type.elementCount) elements but the data has \(t.elementCount)")
            }
        }
    }
}

/// Float types the interpreter computes in.
protocol InterpScalar: Real, BinaryFloatingPoint, Sendable {}
extension Float: InterpScalar {}
extension Double: InterpScalar {}

/// One value during interpretation.
enum Buffer<S: InterpScalar> {
    case float([S])
    case int([Int32])
    case bool([Bool])

    var floats: [S] {
        switch self {
        case .float(let v): return v
        case .int(let v): return v.map { S(Int($0)) }
        case .bool(let v): return v.map { $0 ? 1 : 0 }
        }
    }
}
