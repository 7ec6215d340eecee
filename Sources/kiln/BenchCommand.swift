import ArgumentParser
import Foundation
import Kiln

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark fused against unfused blocks, against the machine's measured roofs.",
        discussion: """
        For each block, batch, thread count and direction: the fused variant (the pass
        pipeline, then Kiln's compiled kernels) and the unfused variant (one kernel per op,
        GEMMs through OpenBLAS) are checked to agree, then timed (median after warm-up).
        The machine's OpenBLAS sgemm rate and STREAM bandwidth are measured first, in the
        same run, at each thread count; the roofline bound is
        max(FLOPs / sgemm rate, (arguments + results bytes) / bandwidth).
        The table goes to stdout, progress to stderr.

        Names: \(BenchSuites.names.joined(separator: ", ")).

        Examples:
          kiln bench --quick
          kiln bench convnext-block ffn-block --threads 1 --batch 1 --direction forward
          kiln bench --json out/bench.json --plot out/bench.svg
          kiln bench --compare Benchmarks/baseline-blocks.json
        """
    )

    @Argument(help: "Benchmarks to run (default: every block).")
    var names: [String] = []

    @Option(help: "Thread counts, comma-separated (default: 1 and all cores).")
    var threads: String?

    @Option(help: "Batch sizes, comma-separated.")
    var batch: String = "1,8"

    @Option(help: "Directions, comma-separated: forward, forward+backward.")
    var direction: String = "forward,forward+backward"

    @Option(help: "Write the records as JSON to this file.")
    var json: String?

    @Option(help: "Write the efficiency-gap chart (SVG) to this file.")
    var plot: String?

    @Option(help: "Compare against a baseline JSON file; exit 1 on a regression (fused median > 25% slower, or ratio < 80% of baseline).")
    var compare: String?

    @Flag(help: "Short runs: 0.1 s and 3 runs per measurement, a smaller machine measurement.")
    var quick = false

    @Option(help: "Minimum seconds of timed runs per measurement (default 1, or 0.1 with --quick).")
    var minTime: Double?

    @Option(help: "Seed for parameters and inputs.")
    var seed: UInt64 = 0

    func run() throws {
        try reportingErrors {
            for n in names { _ = try BenchSuites.suite(for: n) }
            let threadCounts = try threads.map { try Self.integers($0, option: "--threads") }
                ?? Array(Set([1, ProcessInfo.processInfo.activeProcessorCount])).sorted()
            let batches = try Self.integers(batch, option: "--batch")
            let directions = try direction.split(separator: ",").map { text -> BenchDirection in
                let d = text.trimmingCharacters(in: .whitespaces)
                guard let dir = BenchDirection(rawValue: d) else {
                    throw KilnError("--direction: '\(d)' is not a direction; use forward, forward+backward")
                }
                return dir
            }
            if let minTime, !(minTime >= 0) { throw KilnError("--min-time must be a non-negative number of seconds") }
            let baseline = try compare.map(BenchRecord.read(from:))

            var timer = quick ? MedianTimer.quick : MedianTimer()
            if let minTime { timer.minSeconds = minTime }
            let config = BenchConfig(batches: batches, directions: directions, quick: quick, timer: timer, seed: seed,
                                     progress: { note($0) })
            let report = try BenchRunner.run(names: names, threads: threadCounts, config: config)

            print(BenchTable.render(report.records, machines: report.machines), terminator: "")
            if let json {
                try Self.createParent(of: json)
                try BenchRecord.write(report.records, to: json)
                note("wrote \(json) (\(report.records.count) records)")
            }
            if let plot {
                try Self.createParent(of: plot)
                try EfficiencyPlot.svg(report.records).write(toFile: plot, atomically: true, encoding: .utf8)
                note("wrote \(plot)")
            }
            if let baseline, let compare {
                let outcome = BenchComparison().compare(current: report.records, baseline: baseline)
                print("\ncompared with \(compare):")
                for line in outcome.compared { print("  " + line) }
                for key in outcome.unmatched { print("  \(key): not in the baseline") }
                if !outcome.regressions.isEmpty {
                    for r in outcome.regressions { FileHandle.standardError.write(Data("regression: \(r)\n".utf8)) }
                    throw KilnError("\(outcome.regressions.count) regression\(outcome.regressions.count == 1 ? "" : "s") against \(compare)")
                }
                print("no regressions against \(compare)")
            }
        }
    }

    /// Parses `1,2,8` into positive integers.
    static func integers(_ text: String, option: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty else { throw KilnError("\(option) is empty; write it like 1,2") }
        return try parts.map { p in
            guard let v = Int(p), v > 0 else { throw KilnError("\(option): '\(p)' is not a positive integer; write it like 1,2") }
            return v
        }
    }

    static func createParent(of path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
}
