import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import Kiln

/// The bench's outputs: the SVG chart, the table, the baseline comparison.
final class BenchOutputTests: XCTestCase {
    func record(_ name: String, _ variant: BenchVariant, batch: Int = 1, threads: Int = 1, ms: Double, ratio: Double? = nil)
        -> BenchRecord
    {
        BenchRecord(name: name, direction: .forward, batch: batch, threads: threads, variant: variant, medianMs: ms,
                    gflops: 10 / ms, sgemmGflops: 100, rooflineMs: 0.05, bandwidthGbps: 20, kernels: 3, ratio: ratio)
    }

    var records: [BenchRecord] {
        [record("convnext-block", .fused, ms: 1, ratio: 2), record("convnext-block", .unfused, ms: 2),
         record("convnext-block", .fused, batch: 8, ms: 8, ratio: 1.5), record("convnext-block", .unfused, batch: 8, ms: 12),
         record("a<b&c", .fused, threads: 2, ms: 0.5, ratio: 1), record("a<b&c", .unfused, threads: 2, ms: 0.5)]
    }

    /// Collects bar groups and bars while parsing, so the test checks the SVG as XML, not as text.
    final class SVGCollector: NSObject, XMLParserDelegate {
        var groups: [String] = []
        var barsPerGroup: [Int] = []
        var sawSVG = false
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if name == "svg" { sawSVG = true }
            if name == "g", attributes["class"] == "bar-group" {
                groups.append(attributes["data-config"] ?? "")
                barsPerGroup.append(0)
            }
            if name == "rect", attributes["class"] == "bar" { barsPerGroup[barsPerGroup.count - 1] += 1 }
        }
    }

    func testPlotIsWellFormedSVGWithOneGroupPerConfiguration() throws {
        let svg = EfficiencyPlot.svg(records)
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = SVGCollector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "") at line \(parser.lineNumber)")
        XCTAssertTrue(collector.sawSVG)
        XCTAssertEqual(collector.groups, Array(Set(records.map(\.configKey))).sorted { a, b in
            records.firstIndex { $0.configKey == a }! < records.firstIndex { $0.configKey == b }!
        })
        // fused, unfused and the attainable bar in each group.
        XCTAssertEqual(collector.barsPerGroup, [3, 3, 3])
        for text in ["GFLOP/s", "attainable", "OpenBLAS sgemm", "fused", "unfused"] { XCTAssertTrue(svg.contains(text), text) }
    }

    func testTableHasOneRowPerConfiguration() {
        let table = BenchTable.render(records)
        let lines = table.split(separator: "\n")
        XCTAssertEqual(lines.count, 4, table)
        XCTAssertTrue(lines[0].contains("fused ms") && lines[0].contains("roofline ms"), table)
        XCTAssertTrue(lines[1].contains("convnext-block") && lines[1].contains("2.00x"), table)
        // No FMA peak in these records: its column shows "-".
        XCTAssertTrue(lines[0].contains("% peak") && lines[1].contains(" - "), table)
        var withPeak = records
        for i in withPeak.indices { withPeak[i].fmaPeakGflops = 40 }
        // Fused at batch 1 runs 10 GFLOP/s: 25% of a 40 GFLOP/s peak.
        XCTAssertTrue(BenchTable.render(withPeak).split(separator: "\n")[1].contains("25.0%"), BenchTable.render(withPeak))
    }

    func testComparisonFlagsSlowerFusedMedianAndLowerRatio() {
        let baseline = records
        var current = records
        XCTAssertTrue(BenchComparison().compare(current: current, baseline: baseline).regressions.isEmpty)
        current[0].medianMs = 1.3  // 30% slower: a regression
        current[2].ratio = 1.1     // below 0.8 x 1.5
        current[1].medianMs = 10   // unfused (OpenBLAS) slowing down is not Kiln's regression
        let outcome = BenchComparison().compare(current: current, baseline: baseline)
        XCTAssertEqual(outcome.regressions.count, 2, "\(outcome.regressions)")
        XCTAssertTrue(outcome.regressions[0].contains("slower"))
        XCTAssertTrue(outcome.regressions[1].contains("ratio"))
        current[0].medianMs = 1.2  // within 25%
        current[2].ratio = 1.3
        XCTAssertTrue(BenchComparison().compare(current: current, baseline: baseline).regressions.isEmpty)
    }

    func testComparisonScalesMediansByTheInRunSgemmRate() {
        let baseline = records
        var current = records
        // The whole machine is 40% slower today: sgemm and the fused median alike.
        for i in current.indices { current[i].sgemmGflops = 60; current[i].medianMs *= 1 / 0.6 }
        XCTAssertTrue(BenchComparison().compare(current: current, baseline: baseline).regressions.isEmpty)
        var raw = BenchComparison()
        raw.normalizeByMachine = false
        XCTAssertEqual(raw.compare(current: current, baseline: baseline).regressions.count, 3)
        // Slower than the machine explains: still a regression.
        current[0].medianMs = 1.3 / 0.6
        let outcome = BenchComparison().compare(current: current, baseline: baseline)
        XCTAssertEqual(outcome.regressions.count, 1, "\(outcome.regressions)")
        XCTAssertTrue(outcome.regressions[0].contains("sgemm"), outcome.regressions[0])
    }
}
