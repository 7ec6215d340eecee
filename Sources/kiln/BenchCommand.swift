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
          kiln bench --from out/bench.json --plot out/bench.svg

        Linear attention (gla, deltanet, retnet, linear; run only when named): B=1, H=4,
        Dk=Dv=128, recurrent vs chunkwise at the scheduled chunk size and a sweep, and the
        quadratic form where it is implemented; records carry seq_len, chunk and peak bytes.
          kiln bench gla --threads 2 --batch 1 --direction forward --seq-lens 4096 --chunks 16,32,64,128
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

    @Option(help: "Read records from this JSON file instead of running (re-render the table, --plot, --compare).")
    var from: String?

    @Flag(help: "With --compare: compare raw medians, without scaling by the in-run sgemm rates.")
    var rawCompare = false

    @Flag(help: "Short runs: 0.1 s and 3 runs per measurement, a smaller machine measurement.")
    var quick = false

    @Option(help: "Minimum seconds of timed runs per measurement (default 1, or 0.1 with --quick).")
    var minTime: Double?

    @Flag(help: "Also run ffn-block at batch > 1 (8 x 4096 tokens: minutes per configuration).")
    var includeLarge = false

    @Option(help: "Seed for parameters and inputs.")
    var seed: UInt64 = 0

    @Option(help: "Linear attention: sequence lengths, comma-separated (default 1024,4096,16384,65536; 1024,4096 with --quick).")
    var seqLens: String?

    @Option(help: "Linear attention: chunk sizes to sweep besides the scheduled one, comma-separated (default 32,64,128; none with --quick).")
    var chunks: String?

    @Flag(help: "Linear attention: skip the recurrent form.")
    var noRecurrent = false

    @Flag(help: "Linear attention: skip the quadratic parallel form.")
    var noParallel = false

    func run() throws {
        OpenBLASSpinGuard.ensureShortTimeout()
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
            var config = BenchConfig(batches: batches, directions: directions, quick: quick, timer: timer, includeLarge: includeLarge, seed: seed,
                                     progress: { note($0) })
            config.seqLens = try seqLens.map { try Self.integers($0, option: "--seq-lens") }
            config.chunks = try chunks.map { try Self.integers($0, option: "--chunks") }
            config.includeRecurrent = !noRecurrent
            config.includeParallel = !noParallel
            let report: BenchReport
            if let from {
                let records = try BenchRecord.read(from: from)
                report = BenchReport(machines: [], records: names.isEmpty ? records : records.filter { names.contains($0.name) })
                print("records from \(from)")
            } else {
                report = try BenchRunner.run(names: names, threads: threadCounts, config: config)
            }

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
            for f in report.failures { FileHandle.standardError.write(Data("failed: \(f)\n".utf8)) }
            if let baseline, let compare {
                var comparison = BenchComparison()
                comparison.normalizeByMachine = !rawCompare
                let outcome = comparison.compare(current: report.records, baseline: baseline)
                print("\ncompared with \(compare):")
                for line in outcome.compared { print("  " + line) }
                for key in outcome.unmatched { print("  \(key): not in the baseline") }
                if !outcome.regressions.isEmpty {
                    for r in outcome.regressions { FileHandle.standardError.write(Data("regression: \(r)\n".utf8)) }
                    throw KilnError("\(outcome.regressions.count) regression\(outcome.regressions.count == 1 ? "" : "s") against \(compare)")
                }
                print("no regressions against \(compare)")
            }
            if !report.failures.isEmpty {
                throw KilnError("\(report.failures.count) configuration\(report.failures.count == 1 ? "" : "s") failed; \(report.failures.count == 1 ? "its records are" : "their records are") missing")
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
