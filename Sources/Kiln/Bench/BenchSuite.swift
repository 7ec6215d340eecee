/// What one `kiln bench` invocation asks of a suite at one thread count.
///
/// One thread count per call because the machine's roofs are measured per thread count
/// and passed alongside (`BenchSuite.records`).
public struct BenchConfig: Sendable {
    public var threads: Int
    /// Batch sizes (for sequence models: sequences per batch).
    public var batches: [Int]
    public var directions: [BenchDirection]
    /// Smaller problems where a suite has a choice, and the quick timer.
    public var quick: Bool
    public var timer: MedianTimer
    /// Also run configurations a suite skips by default for their size (ffn-block at batch > 1).
    public var includeLarge: Bool
    /// Seed for parameters and inputs.
    public var seed: UInt64
    /// Sequence lengths for the sequence suites (linear attention); nil = the suite's own.
    public var seqLens: [Int]? = nil
    /// Chunk sizes a chunkwise suite sweeps besides the one the scheduler picks; nil = its own.
    public var chunks: [Int]? = nil
    /// Whether sequence suites also time the recurrent form (slow at long T).
    public var includeRecurrent = true
    /// Whether linear-attention suites also time the quadratic parallel form.
    public var includeParallel = true
    /// Progress notes (the CLI sends them to stderr).
    public var progress: @Sendable (String) -> Void
    /// Where a suite reports a configuration that failed (variants disagree, compile
    /// error) before going on with the next one, so one broken block does not hide the
    /// others' numbers; `BenchRunner` collects these and the command exits 1 at the end.
    public var reportFailure: @Sendable (String) -> Void = { _ in }

    public init(threads: Int = 1, batches: [Int] = [1, 8], directions: [BenchDirection] = BenchDirection.allCases,
                quick: Bool = false, timer: MedianTimer? = nil, includeLarge: Bool = false, seed: UInt64 = 0,
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.threads = max(threads, 1)
        self.batches = batches
        self.directions = directions
        self.quick = quick
        self.timer = timer ?? (quick ? .quick : MedianTimer())
        self.includeLarge = includeLarge
        self.seed = seed
        self.progress = progress
    }
}

/// A family of benchmarks `kiln bench` can run by name (blocks, linear attention, ...).
///
/// To add one: write a type conforming to this in its own file and list it in
/// `BenchSuites.all`. Names must be unique across suites.
public protocol BenchSuite: Sendable {
    /// Short name of the suite, e.g. `blocks`.
    var suiteName: String { get }
    /// Benchmark names this suite answers to, e.g. `convnext-block`.
    var names: [String] { get }
    /// Whether `kiln bench` with no names runs `name`.
    func runsByDefault(_ name: String) -> Bool
    /// Measures `name` at `config.threads` threads, every batch and direction of `config`,
    /// every variant; roofs from `machine`. Throws when variants disagree on the output.
    func records(for name: String, config: BenchConfig, machine: MeasuredMachine) throws -> [BenchRecord]
}

extension BenchSuite {
    public func runsByDefault(_ name: String) -> Bool { true }
}

/// Every suite `kiln bench` knows, and name resolution across them.
public enum BenchSuites {
    /// The registry. One line per suite.
    public static let all: [any BenchSuite] = [
        BlockBench(),
        LinearAttentionBenchSuite(),
    ]

    /// Every benchmark name, in suite order.
    public static var names: [String] { all.flatMap(\.names) }

    /// Names run when none are given.
    public static var defaultNames: [String] { all.flatMap { s in s.names.filter { s.runsByDefault($0) } } }

    /// The suite that owns `name`, or an error listing every valid name.
    public static func suite(for name: String, in suites: [any BenchSuite] = all) throws -> any BenchSuite {
        guard let s = suites.first(where: { $0.names.contains(name) }) else {
            throw KilnError("unknown benchmark '\(name)'; valid names: \(suites.flatMap(\.names).joined(separator: ", "))")
        }
        return s
    }
}
