import ArgumentParser
import Foundation
import Kiln

/// `kiln bench-linear-attention`: the linear-attention suite of issue #6 (to be folded into
/// `kiln bench` as a suite once the block benchmark framework lands).
struct BenchLinearAttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-linear-attention",
        abstract: "Benchmark linear attention: recurrent vs chunkwise, forward and forward+backward.",
        discussion: """
        gla (per-key gates), deltanet, retnet (scalar decay) and linear (no gate) at B=1, H=4,
        Dk=Dv=128. GFLOP/s count the chunkwise forward FLOPs (reference/chunkwise.md §3, F=1/2)
        at the chunk size schedule-linear-attention picks, x3 for forward+backward, so every
        variant of one row is rated against the same count; sgemm_gflops is Kiln's GEMM measured
        in the same run on the same threads.

        Examples:
          kiln bench-linear-attention --names gla --seq-lens 4096 --directions forward
          kiln bench-linear-attention --threads 2 --json la.json
        """
    )

    @Option(help: "Comma-separated suite names: gla, deltanet, retnet, linear.")
    var names = "gla,deltanet,retnet,linear"

    @Option(help: "Comma-separated sequence lengths.")
    var seqLens = "1024,4096,16384,65536"

    @Option(help: "Comma-separated chunk sizes to sweep besides the chosen one.")
    var sweep = "32,64,128"

    @Option(help: "Comma-separated directions: forward, forward+backward.")
    var directions = "forward,forward+backward"

    @Option(help: "Threads (default: KILN_THREADS or all cores).")
    var threads: Int?

    @Flag(help: "Skip the recurrent form.")
    var noRecurrent = false

    @Option(help: "Write the records as JSON.")
    var json: String?

    func run() throws {
        let threads = self.threads ?? Executable.defaultThreads
        let ints = { (s: String) throws -> [Int] in
            try s.split(separator: ",").map { guard let v = Int($0) else { throw ValidationError("not an integer: \($0)") }; return v }
        }
        var bench = LinearAttentionBench(threads: threads)
        bench.names = names.split(separator: ",").map(String.init)
        for n in bench.names where !LinearAttentionBench.models.contains(where: { $0.name == n }) {
            throw ValidationError("unknown suite '\(n)'; names: \(LinearAttentionBench.models.map(\.name).joined(separator: ", "))")
        }
        bench.seqLens = try ints(seqLens)
        bench.sweep = try ints(sweep)
        bench.directions = directions.split(separator: ",").map(String.init)
        bench.includeRecurrent = !noRecurrent
        let sgemm = try LinearAttentionBench.measureSgemm(threads: threads)
        bench.machine.gemmGflopsPerCore = sgemm / Double(threads)
        print("sgemm (Kiln, \(threads) threads): \(String(format: "%.1f", sgemm)) GFLOP/s")
        print("name      direction         T       variant    C    median_ms   GFLOP/s  %sgemm  peak_MB")
        let records = try bench.run(sgemmGflops: sgemm) { r in
            if let why = r.skipped {
                print("\(pad(r.name, 9)) \(pad(r.direction, 17)) \(pad("\(r.seq_len)", 7)) \(pad(r.variant, 10)) \(pad("\(r.chunk)", 4)) skipped: \(why)")
            } else {
                print("\(pad(r.name, 9)) \(pad(r.direction, 17)) \(pad("\(r.seq_len)", 7)) \(pad(r.variant, 10)) \(pad("\(r.chunk)", 4)) "
                      + String(format: "%9.2f %9.1f %6.1f%% %8.1f  (sgemm %.0f)", r.median_ms, r.gflops, 100 * r.gflops / r.sgemm_gflops,
                               Double(r.peak_bytes) / 1e6, r.sgemm_gflops))
            }
        }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(records).write(to: URL(fileURLWithPath: json))
        }
    }

    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}
