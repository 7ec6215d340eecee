import Foundation

/// The result of a `kiln bench` run: the machines measured and every record.
public struct BenchReport: Sendable {
    /// One per thread count, in the order run.
    public var machines: [MeasuredMachine]
    public var records: [BenchRecord]
    /// Configurations that failed, one line each (their records are missing).
    public var failures: [String]
    public init(machines: [MeasuredMachine], records: [BenchRecord], failures: [String] = []) {
        self.machines = machines
        self.records = records
        self.failures = failures
    }
}

/// Failure lines reported from suites, possibly from any thread.
private final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// Runs benchmarks by name over thread counts: measures the machine at each thread count,
/// then asks each name's suite for its records.
public enum BenchRunner {
    /// - Parameters:
    ///   - names: benchmark names (empty: `BenchSuites.defaultNames`); all are resolved
    ///     before anything runs, so a typo fails fast.
    ///   - threads: thread counts; `config.threads` is overwritten with each in turn.
    ///   - registry: the suites to resolve names in (tests pass their own).
    /// A configuration that fails is reported in `BenchReport.failures` and the run goes on;
    /// so does a suite that throws (its remaining configurations are then missing too).
    public static func run(names: [String], threads: [Int], config: BenchConfig,
                           registry: [any BenchSuite] = BenchSuites.all) throws -> BenchReport {
        let chosen = names.isEmpty ? registry.flatMap { s in s.names.filter { s.runsByDefault($0) } } : names
        let suites = try chosen.map { try BenchSuites.suite(for: $0, in: registry) }
        let log = FailureLog()
        let progress = config.progress
        var report = BenchReport(machines: [], records: [])
        for t in threads {
            config.progress("measuring the machine at \(t) thread\(t == 1 ? "" : "s") (sgemm, STREAM)...")
            let machine = MeasuredMachine.measure(threads: t, quick: config.quick)
            config.progress(machine.summary)
            report.machines.append(machine)
            var c = config
            c.threads = t
            c.reportFailure = { line in
                progress("FAILED: " + line)
                log.append(line)
            }
            for (name, suite) in zip(chosen, suites) {
                do {
                    report.records += try suite.records(for: name, config: c, machine: machine)
                } catch {
                    c.reportFailure("\(name) threads \(t): \(error)")
                }
            }
        }
        report.failures = log.all
        return report
    }
}
