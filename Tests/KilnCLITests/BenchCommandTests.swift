import Foundation
import XCTest
import Kiln

/// `kiln bench` as a process: a real (quick) measurement end to end, and its errors.
final class BenchCommandTests: XCTestCase {
    func kiln(_ args: [String]) throws -> CLIProcessTests.Result { try CLIProcessTests.run(args) }

    func testQuickRunWritesBothVariants() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-\(ProcessInfo.processInfo.processIdentifier)")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("bench.json").path
        let svg = dir.appendingPathComponent("bench.svg").path
        let r = try kiln(["bench", "convnext-block", "--quick", "--threads", "1", "--batch", "1", "--direction", "forward",
                          "--json", json, "--plot", svg])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("OpenBLAS sgemm"), r.stdout)
        XCTAssertTrue(r.stdout.contains("convnext-block"), r.stdout)
        let records = try BenchRecord.read(from: json)
        XCTAssertEqual(Set(records.map(\.variant)), [.fused, .unfused])
        for rec in records {
            XCTAssertEqual(rec.name, "convnext-block")
            XCTAssertEqual(rec.direction, .forward)
            XCTAssertEqual(rec.batch, 1)
            XCTAssertEqual(rec.threads, 1)
            XCTAssertGreaterThan(rec.medianMs, 0)
            XCTAssertGreaterThan(rec.gflops, 0)
            XCTAssertGreaterThan(rec.sgemmGflops, 0)
            XCTAssertGreaterThan(rec.rooflineMs, 0)
            XCTAssertGreaterThan(rec.kernels ?? 0, 0)
        }
        XCTAssertNotNil(records.first { $0.variant == .fused }?.ratio)
        XCTAssertTrue(FileManager.default.fileExists(atPath: svg))
        // The run is its own baseline: comparing against it cannot regress by 25% in the median
        // of a re-run on a quiet machine, but the machine is shared, so only check it parses and runs.
        let c = try kiln(["bench", "convnext-block", "--quick", "--threads", "1", "--batch", "1", "--direction", "forward",
                          "--compare", json])
        XCTAssertTrue(c.stdout.contains("compared with"), c.stdout + c.stderr)
    }

    func testBadNameListsValidNames() throws {
        let r = try kiln(["bench", "convnxt-block", "--quick"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("unknown benchmark 'convnxt-block'"), r.stderr)
        for name in ["convnext-block", "mobilenetv2-block", "resnet-basic-block", "ffn-block", "hornet-block", "inceptionnext-block"] {
            XCTAssertTrue(r.stderr.contains(name), r.stderr)
        }
        // Fails before measuring anything.
        XCTAssertFalse(r.stderr.contains("measuring"), r.stderr)
    }

    func testBadOptionValuesAreClearErrors() throws {
        let r = try kiln(["bench", "--direction", "backward"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("forward+backward"), r.stderr)
        let t = try kiln(["bench", "--threads", "0"])
        XCTAssertNotEqual(t.status, 0)
        XCTAssertTrue(t.stderr.contains("--threads"), t.stderr)
    }
}
