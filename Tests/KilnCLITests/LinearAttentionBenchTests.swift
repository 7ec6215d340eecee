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
        XCTAssertEqual(Set(run.map(\.variant)), ["recurrent", "chunkwise"])
        XCTAssertTrue(run.contains { $0.variant == "chunkwise" && $0.chunk == 16 && $0.direction == "forward+backward" })
        for r in run {
            XCTAssertGreaterThan(r.median_ms, 0)
            XCTAssertGreaterThan(r.gflops, 0)
            XCTAssertEqual(r.seq_len, 40)
            XCTAssertGreaterThan(r.peak_bytes, 0)
        }
        XCTAssertTrue(records.contains { $0.variant == "parallel" && $0.skipped != nil })
        XCTAssertTrue(BenchSuites.names.contains("gla"))
    }
}
