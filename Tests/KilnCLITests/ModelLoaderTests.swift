import Foundation
import XCTest
import Kiln

final class ModelLoaderTests: XCTestCase {
    func testShapeParsing() throws {
        XCTAssertEqual(try ModelLoader.parseShape("8x56x56x96"), [8, 56, 56, 96])
        XCTAssertEqual(try ModelLoader.parseShape("1,1024,512"), [1, 1024, 512])
        for bad in ["", "0x3", "-1x4", "axb", "4611686018427387904x4"] {
            XCTAssertThrowsError(try ModelLoader.parseShape(bad), bad)
        }
    }

    func testUnknownModelListsTheZoo() {
        XCTAssertThrowsError(try ModelLoader.load("convnext")) { e in
            XCTAssertTrue("\(e)".contains("convnext-block"), "\(e)")
        }
    }

    func testShapeOverride() throws {
        let m = try ModelLoader.load("ffn-block", shape: [2, 16, 512])
        XCTAssertEqual(m.function.type(of: m.function.inputs[0]), .f32(2, 16, 512))
        XCTAssertEqual(m.function.type(of: m.function.results[0]), .f32(2, 16, 512))
    }

    /// A model run from its text with the saved parameters equals the zoo model's run,
    /// and both equal an independent numpy-free computation of the FFN block in Double.
    func testFileWithParamsEqualsZooRun() throws {
        let zoo = try ModelLoader.load("ffn-block", shape: [1, 3, 512])
        let text = zoo.function.printed()
        let file = try parseFunction(text, file: "ffn.kir")
        let x = ArgumentBinder.randomTensor(.f32(1, 3, 512), seed: 7, name: "x", scale: 1)
        let a = try ArgumentBinder.bind(function: zoo.function, params: nil, defaults: zoo.parameters, inputs: ["x": x])
        let b = try ArgumentBinder.bind(function: file, params: zoo.parameters, defaults: [:], inputs: ["x": x])
        let ra = try Interpreter().run(zoo.function, inputs: a.values)
        let rb = try Interpreter().run(file, inputs: b.values)
        XCTAssertEqual(ra, rb)
    }

    func testBindingErrorsNameTheTensor() throws {
        let m = try ModelLoader.load("ffn-block", shape: [1, 4, 512])
        let wrong = HostTensor(zeros: .f32(1, 4, 511))
        XCTAssertThrowsError(try ArgumentBinder.bind(function: m.function, params: nil, defaults: m.parameters, inputs: ["x": wrong])) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("'x'") && s.contains("f32[1,4,512]") && s.contains("f32[1,4,511]"), s)
        }
        var params = m.parameters
        let first = params.keys.sorted()[0]
        params.removeValue(forKey: first)
        XCTAssertThrowsError(try ArgumentBinder.bind(function: m.function, params: params, defaults: [:], inputs: [:], paramsFile: "w.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("w.safetensors") && "\(e)".contains(first), "\(e)")
        }
        params[first] = m.parameters[first]
        params["bogus.weight"] = HostTensor(zeros: .f32(2))
        XCTAssertThrowsError(try ArgumentBinder.bind(function: m.function, params: params, defaults: [:], inputs: [:])) { e in
            XCTAssertTrue("\(e)".contains("bogus.weight"), "\(e)")
        }
    }
}

/// IR/README.md's op table is exactly what the op table generates.
final class IRDocsTests: XCTestCase {
    func testReadmeOpTableIsCurrent() throws {
        let path = ZooGoldenTests.repoRoot.appendingPathComponent("IR/README.md").path
        let readme = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(readme.contains(OpInfo.markdownTable), "IR/README.md's op table is stale: paste `kiln ops --markdown`")
        for op in OpKind.allCases { XCTAssertTrue(readme.contains("| `\(op.rawValue)` |"), "\(op) missing from IR/README.md") }
    }

    func testSemanticsDocumentsEveryOp() throws {
        let path = ZooGoldenTests.repoRoot.appendingPathComponent("IR/semantics.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for op in OpKind.allCases { XCTAssertTrue(text.contains("`\(op.rawValue)`"), "\(op) missing from IR/semantics.md") }
    }
}
