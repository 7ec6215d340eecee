import Foundation
import XCTest
@testable import KilnIR

final class PrintParseTests: XCTestCase {
    func testEveryOpIsCovered() throws {
        var seen = Set<OpKind>()
        func visit(_ f: Function) { for n in f.nodes { seen.insert(n.op); n.regions.forEach(visit) } }
        try EveryOp.all().forEach(visit)
        XCTAssertEqual(seen, Set(OpKind.allCases), "missing: \(Set(OpKind.allCases).subtracting(seen))")
    }

    func testPrintParsePrintIsIdentity() throws {
        for f in try EveryOp.all() {
            try f.verify()
            let text = f.printed()
            let parsed = try parseFunction(text, file: "\(f.name).kir")
            XCTAssertEqual(parsed.printed(), text)
            XCTAssertEqual(parsed, f)
        }
    }

    func testPrintedFormIsReadable() throws {
        let text = try EveryOp.regions().printed()
        XCTAssertTrue(text.hasPrefix("func @regions(%x: f32[3,4], param %shared.w: f32[4,4]) -> (f32[3,4], f32[3,4]) {\n"), text)
        XCTAssertTrue(text.contains("  %0 = repeat %x, %shared.w {count = 3} : f32[3,4] {\n    func @body(%h: f32[3,4], %w: f32[4,4]) -> (f32[3,4]) {"), text)
        XCTAssertTrue(text.contains("%1, %2 = fused %0 {note = demo, tile = [1,4]} : f32[3,4], f32[3,4] {"), text)
    }

    func testParserFillsDefaultsAndAcceptsCommentsAndIntegerFloats() throws {
        let text = """
        // a comment line
        func @f(%x: f32[1,4,4,2], param %w: f32[3,3,1,2]) -> (f32[1,4,4,2]) { // trailing comment
          %y = conv2d %x, %w {groups = 2, padding = [1,1,1,1]} : f32[1,4,4,2]
          %z = layer_norm %y {eps = 1} : f32[1,4,4,2]
          return %z
        }
        """
        let f = try parseFunction(text)
        XCTAssertEqual(f.nodes[0].attributes["stride"], .ints([1, 1]))
        XCTAssertEqual(f.nodes[1].attributes["eps"], .float(1))
        XCTAssertEqual(try parseFunction(f.printed()), f)
    }

    func testDotGraphMentionsEveryNode() throws {
        let f = try EveryOp.regions()
        let dot = f.dotGraph()
        XCTAssertTrue(dot.hasPrefix("digraph \"regions\" {"))
        XCTAssertTrue(dot.contains("repeat\\nf32[3,4]"))
        XCTAssertTrue(dot.contains("subgraph cluster_"))
        XCTAssertEqual(dot.filter { $0 == "{" }.count, dot.filter { $0 == "}" }.count)
    }
}
