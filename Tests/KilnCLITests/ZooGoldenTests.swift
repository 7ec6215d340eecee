import Foundation
import XCTest
import Kiln

/// The checked-in `IR/models/*.kir` files are what `kiln trace` produces today, and every
/// zoo model survives print -> parse -> print unchanged.
final class ZooGoldenTests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func testGoldenFilesMatchTracing() throws {
        for model in Zoo.models {
            let path = Self.repoRoot.appendingPathComponent("IR/models/\(model.name).kir").path
            guard let golden = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }) else {
                XCTFail("\(path) is missing: run `kiln trace \(model.name) -o IR/models/\(model.name).kir`")
                continue
            }
            let traced = try model.trace().function.printed()
            XCTAssertEqual(traced, golden, "\(model.name): tracing no longer reproduces IR/models/\(model.name).kir; if the change is intended, re-run `make golden`")
        }
    }

    func testEveryGoldenFileIsAZooModel() throws {
        let dir = Self.repoRoot.appendingPathComponent("IR/models").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".kir") }
        XCTAssertEqual(Set(files), Set(Zoo.models.map { "\($0.name).kir" }))
    }

    func testZooRoundTripsThroughText() throws {
        for model in Zoo.models {
            let f = try model.trace().function
            let text = f.printed()
            let parsed = try parseFunction(text, file: "\(model.name).kir")
            XCTAssertEqual(parsed.printed(), text, "\(model.name): print -> parse -> print changed the text")
            XCTAssertEqual(parsed, f, "\(model.name): parse(print(f)) != f")
        }
    }

    func testZooNamesAreTheDocumentedOnes() {
        XCTAssertEqual(Zoo.models.map(\.name), [
            "convnext-block", "mobilenetv2-block", "resnet-basic-block", "hornet-block", "inceptionnext-block",
            "ffn-block", "gla-block", "deltanet-layer", "retnet-layer", "tcn-block", "recursive-ffn",
        ])
    }
}
