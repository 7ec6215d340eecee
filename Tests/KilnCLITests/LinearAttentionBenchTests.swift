import Foundation
import XCTest
import Kiln

/// The linear-attention bench on a tiny configuration: every variant runs, agrees with the
/// first, and fills the record fields the JSON format promises.
final class LinearAttentionBenchTests: XCTestCase {
    func testTinyRunFillsRecords() throws {
        var bench = LinearAttentionBench(threads: 2)
        bench.names = ["gla", "deltanet"]
        bench.seqLens = [40]
        bench.heads = 2
        bench.dk = 16
        bench.dv = 8
        bench.sweep = [16]
        bench.minTime = 0
        bench.remeasureSgemm = false
        let records = try bench.run(sgemmGflops: 100)
        let run = records.filter { $0.skipped == nil }
        XCTAssertEqual(Set(run.map(\.variant)), ["recurrent", "chunkwise", "parallel"])
        XCTAssertTrue(run.contains { $0.variant == "chunkwise" && $0.chunk == 16 && $0.direction == "forward+backward" })
        for r in run {
            XCTAssertGreaterThan(r.median_ms, 0)
            XCTAssertGreaterThan(r.gflops, 0)
            XCTAssertEqual(r.seq_len, 40)
            XCTAssertGreaterThan(r.peak_bytes, 0)
        }
        XCTAssertTrue(run.contains { $0.variant == "parallel" && $0.direction == "forward" && $0.chunk == 0 })
        // Above the memory cap the parallel form is skipped with the reason.
        bench.parallelMemoryCap = 1
        bench.names = ["gla"]
        bench.directions = ["forward"]
        let capped = try bench.run(sgemmGflops: 100)
        XCTAssertTrue(capped.contains { $0.variant == "parallel" && ($0.skipped ?? "").contains("cap") })
        XCTAssertTrue(BenchSuites.names.contains("gla"))
    }

    /// Chunkwise records above the shortest length carry time(T) / time(shortest) from paired
    /// rounds; a 4x longer sequence takes longer, and by less than 16x.
    func testLengthRatioFromPairedRounds() throws {
        var bench = LinearAttentionBench(threads: 1)
        bench.names = ["retnet"]
        bench.seqLens = [64, 256]
        bench.heads = 2
        bench.dk = 32
        bench.dv = 32
        bench.sweep = [16]
        bench.directions = ["forward"]
        bench.minTime = 0
        bench.lengthRatioRounds = 3
        bench.includeParallel = false
        bench.remeasureSgemm = false
        let records = try bench.run(sgemmGflops: 100)
        let long = records.filter { $0.variant == "chunkwise" && $0.seq_len == 256 }
        XCTAssertFalse(long.isEmpty)
        for r in long {
            let ratio = try XCTUnwrap(r.length_ratio, "\(r)")
            XCTAssertGreaterThan(ratio, 1, "\(r)")
            XCTAssertLessThan(ratio, 16, "\(r)")
        }
        XCTAssertTrue(records.filter { $0.seq_len == 64 || $0.variant == "recurrent" }.allSatisfy { $0.length_ratio == nil })
        bench.lengthRatioRounds = 0
        XCTAssertTrue(try bench.run(sgemmGflops: 100).allSatisfy { $0.length_ratio == nil })
    }

    /// The sweep is an option of `kiln bench` (the separate bench-linear-attention command is gone).
    func testKilnBenchSweepsChunks() throws {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-la-bench-\(ProcessInfo.processInfo.processIdentifier).json").path
        let r = try CLIProcessTests.run(["bench", "gla", "--quick", "--threads", "1", "--batch", "1", "--direction", "forward",
                                         "--seq-lens", "64", "--chunks", "16", "--no-recurrent", "--no-parallel", "--json", json])
        XCTAssertEqual(r.status, 0, r.stderr)
        let records = try BenchRecord.read(from: json)
        XCTAssertTrue(records.contains { $0.chunk == 16 }, "\(records)")
        for rec in records {
            XCTAssertEqual(rec.name, "gla")
            XCTAssertEqual(rec.seqLen, 64)
            XCTAssertEqual(rec.variant, BenchVariant("chunkwise"))
            XCTAssertGreaterThan(rec.peakBytes ?? 0, 0)
        }
        let old = try CLIProcessTests.run(["bench-linear-attention"])
        XCTAssertNotEqual(old.status, 0)
        let bad = try CLIProcessTests.run(["bench", "gla", "--chunks", "0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--chunks"), bad.stderr)
    }
}
