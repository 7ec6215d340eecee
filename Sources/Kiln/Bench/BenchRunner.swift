/// The result of a `kiln bench` run: the machines measured and every record.
public struct BenchReport: Sendable {
    /// One per thread count, in the order run.
    public var machines: [MeasuredMachine]
    public var records: [BenchRecord]
}

/// Runs benchmarks by name over thread counts: measures the machine at each thread count,
/// then asks each name's suite for its records.
public enum BenchRunner {
    /// - Parameters:
    ///   - names: benchmark names (empty: `BenchSuites.defaultNames`); all are resolved
    ///     before anything runs, so a typo fails fast.
    ///   - threads: thread counts; `config.threads` is overwritten with each in turn.
    public static func run(names: [String], threads: [Int], config: BenchConfig) throws -> BenchReport {
        let chosen = names.isEmpty ? BenchSuites.defaultNames : names
        let suites = try chosen.map { try BenchSuites.suite(for: $0) }
        var report = BenchReport(machines: [], records: [])
        for t in threads {
            config.progress("measuring the machine at \(t) thread\(t == 1 ? "" : "s") (sgemm, STREAM)...")
            let machine = MeasuredMachine.measure(threads: t, quick: config.quick)
            config.progress(machine.summary)
            report.machines.append(machine)
            var c = config
            c.threads = t
            for (name, suite) in zip(chosen, suites) {
                report.records += try suite.records(for: name, config: c, machine: machine)
            }
        }
        return report
    }
}
