import Foundation
import XCTest
import Kiln

/// The bench file format and the measurement statistics, without running any benchmark.
final class BenchRecordTests: XCTestCase {
    func sample() -> [BenchRecord] {
        [BenchRecord(name: "convnext-block", direction: .forwardBackward, batch: 8, threads: 2, variant: .fused,
                     medianMs: 12.5, gflops: 80, sgemmGflops: 200, rooflineMs: 5, bandwidthGbps: 15, kernels: 3,
                     peakBytes: 1 << 20, ratio: 1.5, minMs: 12, runs: 7, fmaPeakGflops: 250),
         BenchRecord(name: "gla", direction: .forward, batch: 1, threads: 1, variant: .chunkwise,
                     medianMs: 2, gflops: 10, sgemmGflops: 100, rooflineMs: 1, seqLen: 2048, chunk: 64)]
    }

    func testJSONRoundTripWithTheDocumentedKeys() throws {
        let records = sample()
        let data = try BenchRecord.encode(records)
        XCTAssertEqual(try BenchRecord.decode(data), records)
        let objects = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let required: Set = ["name", "direction", "batch", "threads", "variant", "median_ms", "gflops", "sgemm_gflops", "roofline_ms"]
        let optional: Set = ["bandwidth_gbps", "kernels", "seq_len", "chunk", "peak_bytes", "ratio", "min_ms", "runs", "fma_peak_gflops"]
        XCTAssertEqual(Set(objects[0].keys), required.union(optional).subtracting(["seq_len", "chunk"]))
        XCTAssertEqual(Set(objects[1].keys), required.union(["seq_len", "chunk"]))
        XCTAssertEqual(objects[0]["direction"] as? String, "forward+backward")
        XCTAssertEqual(objects[0]["variant"] as? String, "fused")
        XCTAssertEqual(objects[1]["variant"] as? String, "chunkwise")
        XCTAssertEqual(objects[0]["median_ms"] as? Double, 12.5)
        XCTAssertEqual(records[0].fractionOfPeak ?? 0, 80.0 / 250, accuracy: 1e-12)
        XCTAssertNil(records[1].fractionOfPeak)
    }

    /// The FMA peak at 1 thread is a real rate, and the machine line reports sgemm as a share of it.
    func testFmaPeakIsMeasuredAndSummarized() throws {
        let peak = try XCTUnwrap(FmaPeak.measure(threads: 1, timer: .quick, trials: 1, seconds: 0.005))
        XCTAssertTrue(peak.isFinite && peak > 0.1, "\(peak) GFLOP/s")
        let m = MeasuredMachine(threads: 1, sgemmGflops: peak / 2, sgemmSize: 1024, bandwidthGBps: 20, copyGBps: 20,
                                streamBytesPerArray: 1, fmaPeakGflops: peak)
        XCTAssertTrue(m.summary.contains("(sgemm at 50.0%)"), m.summary)
        let unmeasured = MeasuredMachine(threads: 1, sgemmGflops: 1, sgemmSize: 1024, bandwidthGBps: 20, copyGBps: 20,
                                         streamBytesPerArray: 1)
        XCTAssertFalse(unmeasured.summary.contains("FMA peak"), unmeasured.summary)
    }

    func testDecodingRejectsAnUnknownDirection() {
        let text = #"[{"name":"x","direction":"sideways","batch":1,"threads":1,"variant":"fused","median_ms":1,"gflops":1,"sgemm_gflops":1,"roofline_ms":1}]"#
        XCTAssertThrowsError(try BenchRecord.decode(Data(text.utf8)))
    }

    /// A clock the test advances by a scripted duration on every timed run.
    final class ScriptedClock: @unchecked Sendable {
        var now = 0.0
        var durations: [Double]
        var next = 0
        init(_ durations: [Double]) { self.durations = durations }
        func tick() { now += durations[next % durations.count]; next += 1 }
    }

    func testMedianTimerReportsMedianAndMinimum() {
        // One warm-up (10 s, must be ignored), then five timed runs.
        let clock = ScriptedClock([10, 5, 1, 4, 2, 3])
        let timer = MedianTimer(warmupRuns: 1, minSeconds: 0, minRuns: 5, maxRuns: 5, clock: { clock.now })
        let s = timer.measure { clock.tick() }
        XCTAssertEqual(s.samples, [5, 1, 4, 2, 3])
        XCTAssertEqual(s.median, 3)
        XCTAssertEqual(s.min, 1)
        XCTAssertEqual(s.runs, 5)
        XCTAssertEqual(TimingSample([4, 1, 3, 2]).median, 2.5)
    }

    func testMedianTimerRunsUntilTheMinimumTime() {
        let clock = ScriptedClock([1])
        let timer = MedianTimer(warmupRuns: 0, minSeconds: 7.5, minRuns: 2, clock: { clock.now })
        XCTAssertEqual(timer.measure { clock.tick() }.runs, 8)
    }

    func testRooflineTakesTheBindingRoof() {
        let m = MeasuredMachine(threads: 2, sgemmGflops: 200, sgemmSize: 1024, bandwidthGBps: 20, copyGBps: 20, streamBytesPerArray: 1)
        let compute = RooflineBound(flops: 2e9, bytes: 1e6, machine: m)
        XCTAssertEqual(compute.seconds, 0.01, accuracy: 1e-12)
        XCTAssertEqual(compute.limitedBy, "compute")
        let memory = RooflineBound(flops: 1e6, bytes: 2e9, machine: m)
        XCTAssertEqual(memory.seconds, 0.1, accuracy: 1e-12)
        XCTAssertEqual(memory.limitedBy, "memory")
    }

    func testUnknownBenchmarkNameListsTheValidOnes() {
        XCTAssertThrowsError(try BenchSuites.suite(for: "convnxt-block")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("convnxt-block"), text)
            for name in BlockBench().names { XCTAssertTrue(text.contains(name), text) }
        }
    }
}

final class MedianTimerInterleavingTests: XCTestCase {
    func testInterleavedTimingAlternatesAndKeepsSamplesApart() throws {
        final class Log: @unchecked Sendable { var now = 0.0; var order: [String] = [] }
        let log = Log()
        let timer = MedianTimer(warmupRuns: 1, minSeconds: 0, minRuns: 3, maxRuns: 3, clock: { log.now })
        let s = try timer.measureInterleaved([{ log.now += 2; log.order.append("a") }, { log.now += 5; log.order.append("b") }])
        XCTAssertEqual(log.order, ["a", "b", "a", "b", "a", "b", "a", "b"])
        XCTAssertEqual(s.map(\.samples), [[2, 2, 2], [5, 5, 5]])
        XCTAssertEqual(s.map(\.median), [2, 5])
    }

    /// The probe runs after the first body of a round; a slow one only every few rounds, so
    /// it takes about a third of the time (stride ceil(2 * 20 / (2 + 5)) = 6).
    func testProbeRunsBetweenBodiesAtAStride() throws {
        final class Log: @unchecked Sendable { var now = 0.0; var order: [String] = [] }
        for (probeTime, probes) in [(3.0, 13), (20.0, 3)] {
            let log = Log()
            let timer = MedianTimer(warmupRuns: 0, minSeconds: 0, minRuns: 13, maxRuns: 13, clock: { log.now })
            let (s, p) = try timer.measureInterleaved([{ log.now += 2; log.order.append("a") }, { log.now += 5; log.order.append("b") }],
                                                      probe: { log.now += probeTime; log.order.append("p") })
            XCTAssertEqual(Array(log.order.prefix(6)), probeTime == 3 ? ["a", "p", "b", "a", "p", "b"] : ["a", "p", "b", "a", "b", "a"])
            XCTAssertEqual(s.map(\.samples), [[Double](repeating: 2, count: 13), [Double](repeating: 5, count: 13)])
            XCTAssertEqual(p?.samples, [Double](repeating: probeTime, count: probes))
        }
    }
}

/// A suite whose second configuration fails: the runner must keep the others.
private struct HalfBrokenSuite: BenchSuite {
    var suiteName: String { "test" }
    var names: [String] { ["good", "broken"] }
    func records(for name: String, config: BenchConfig, machine: MeasuredMachine) throws -> [BenchRecord] {
        if name == "broken" { throw KilnError("broken: variants disagree") }
        var out: [BenchRecord] = []
        for batch in config.batches {
            if batch == 2 { config.reportFailure("good batch 2: compile error"); continue }
            out.append(BenchRecord(name: name, direction: .forward, batch: batch, threads: config.threads, variant: .fused,
                                   medianMs: 1, gflops: 1, sgemmGflops: machine.sgemmGflops, rooflineMs: 1))
        }
        return out
    }
}

final class BenchRunnerTests: XCTestCase {
    func testFailedConfigurationsAreReportedAndTheRestStillRuns() throws {
        let config = BenchConfig(batches: [1, 2, 3], quick: true)
        let report = try BenchRunner.run(names: [], threads: [1], config: config, registry: [HalfBrokenSuite()])
        XCTAssertEqual(report.records.map(\.batch), [1, 3])
        XCTAssertEqual(report.failures.count, 2, "\(report.failures)")
        XCTAssertTrue(report.failures[0].contains("good batch 2"))
        XCTAssertTrue(report.failures[1].contains("broken threads 1"))
        XCTAssertEqual(report.machines.count, 1)
        XCTAssertGreaterThan(report.records[0].sgemmGflops, 0)
    }
}
