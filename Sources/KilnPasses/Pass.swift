import KilnIR

/// A Graph IR to Graph IR rewrite with a name (`kiln dump --after NAME`).
///
/// Passes explain themselves: every decision a pass takes (fuse or not, which schedule,
/// which chunk size, and why) goes into `PassResult.notes`, which `kiln dump` prints as
/// `//` comments above the rewritten function.
public protocol Pass: Sendable {
    /// The name used on the command line, e.g. `fuse-residual-blocks`.
    var name: String { get }
    /// Rewrites `function`. The result must verify.
    func run(_ function: Function, context: PassContext) throws -> PassResult
}

/// The output of one pass: the rewritten function and what the pass decided.
public struct PassResult: Sendable {
    public var function: Function
    public var notes: [String]

    public init(function: Function, notes: [String] = []) {
        self.function = function
        self.notes = notes
    }
}

/// What every pass may consult: the machine model for cost decisions and user overrides.
public struct PassContext: Sendable {
    public var machine: MachineModel
    /// Threads the compiled program will run with (cost models divide work by it).
    public var threads: Int
    /// Per-pass switches from the command line, e.g. `["fuse-residual-blocks": "off"]`,
    /// `["linear-attention-form": "chunkwise", "linear-attention-chunk": "64"]`.
    public var options: [String: String]

    public init(machine: MachineModel = .default, threads: Int = 1, options: [String: String] = [:]) {
        self.machine = machine
        self.threads = max(threads, 1)
        self.options = options
    }
}

/// An error a pass reports about its input or options.
public struct PassError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
