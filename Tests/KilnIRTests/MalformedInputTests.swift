import Foundation
import XCTest
@testable import KilnIR

/// Broken IR text gives a diagnostic with file:line:column, never a crash or a hang.
final class MalformedInputTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Corpus/malformed")

    /// Each corpus file starts with `// expect LINE:COL words` naming the diagnostic it must produce.
    func testCorpus() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter { $0.hasSuffix(".kir") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 25)
        for name in files {
            let bytes = [UInt8](try Data(contentsOf: Self.corpus.appendingPathComponent(name)))
            let firstLine = String(decoding: bytes.prefix { $0 != 0x0A }, as: UTF8.self)
            let parts = firstLine.split(separator: " ", maxSplits: 3).map(String.init)
            guard parts.count == 4, parts[1] == "expect" else { XCTFail("\(name): first line must be '// expect L:C words'"); continue }
            let lc = parts[2].split(separator: ":").compactMap { Int($0) }
            do {
                _ = try parseFunction(bytes: bytes, file: name)
                XCTFail("\(name): parsed, but should fail with \(parts[3])")
            } catch {
                XCTAssertEqual(error.location?.file, name, "\(name): \(error)")
                XCTAssertEqual(error.location.map { [$0.line, $0.column] }, lc, "\(name): \(error)")
                XCTAssertTrue(error.message.contains(parts[3]), "\(name): expected '\(parts[3])' in: \(error)")
                XCTAssertTrue(error.description.hasPrefix("\(name):\(lc[0]):\(lc[1]): error: "), error.description)
            }
        }
    }

    var validText: [UInt8] { get throws { Array(try EveryOp.sequences().printed().utf8) + Array(try EveryOp.regions().printed().utf8) } }

    /// Every prefix of a valid file either fails with a located error or parses.
    func testEveryTruncationFailsCleanly() throws {
        let text = Array(try EveryOp.regions().printed().utf8)
        for n in 0..<text.count {
            do { _ = try parseFunction(bytes: Array(text.prefix(n)), file: "t.kir") } catch {
                XCTAssertNotNil(error.location, "prefix \(n): \(error)")
            }
        }
    }

    /// Seeded random byte mutations never crash or hang.
    func testRandomMutationsNeverCrash() throws {
        let base = Array(try EveryOp.sequences().printed().utf8)
        var rng = SeededRandom(seed: 42)
        let alphabet = Array("%@()[]{},:=->0123456789 \n\u{0}fxe.-".utf8) + [0xFF, 0xC3]
        var failures = 0
        for _ in 0..<3000 {
            var bytes = base
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: bytes.remove(at: i)
                default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                }
            }
            do { _ = try parseFunction(bytes: bytes, file: "m.kir") } catch { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 1000, "most mutations should be rejected")
    }

    func testDeepNestingIsAnErrorNotAStackOverflow() {
        let depth = 10_000
        var text = ""
        for i in 0..<depth { text += "func @f\(i)(%x: f32[4]) -> (f32[4]) {\n  %y = repeat %x {count = 1} : f32[4] {\n" }
        XCTAssertThrowsError(try parseFunction(text, file: "deep.kir")) { e in
            XCTAssertTrue((e as! IRError).message.contains("nested more than"), "\(e)")
        }
    }

    func testLongInputIsFast() throws {
        var text = "func @long(%x: f32[8]) -> (f32[8]) {\n  %v0 = exp %x : f32[8]\n"
        for i in 1..<20_000 { text += "  %v\(i) = neg %v\(i - 1) : f32[8]\n" }
        text += "  return %v19999\n}\n"
        let start = Date()
        let f = try parseFunction(text)
        XCTAssertEqual(f.nodes.count, 20_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "parsing must be linear")
    }
}
