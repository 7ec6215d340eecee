import XCTest
@testable import KilnFrontend
import KilnIR

private struct Inner: Layer {
    var norm = LayerNorm(64)
    var expand = Linear(96, 128)
    func callAsFunction(_ x: Tensor) -> Tensor { expand(norm(x)) }
}

private struct Outer: Layer {
    var blocks: [Inner] = [Inner(), Inner()]
    let label = "configuration, not a parameter"
    let widths = [1, 2, 3]
    func callAsFunction(_ x: Tensor) -> Tensor { blocks[1](x) }
}

private struct Shared: Layer {
    var fc = Linear(8, 8)
    func callAsFunction(_ x: Tensor) -> Tensor { fc(fc(x)) }
}

final class TracingTests: XCTestCase {
    func testShapeErrorNamesLayerPathAndBothShapes() {
        XCTAssertThrowsError(try trace(Outer(), input: .f32(1, 4, 4, 64), name: "broken")) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.hasPrefix("blocks.1.expand (Linear): "), msg)
            XCTAssertTrue(msg.contains("f32[1,4,4,64]") && msg.contains("f32[96,128]"), msg)
        }
    }

    func testReflectionNamesNestedArraysAndSkipsConfiguration() throws {
        let names = LayerInventory(Outer()).parameters.map(\.path)
        XCTAssertEqual(names, ["blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.expand.weight", "blocks.0.expand.bias",
                               "blocks.1.norm.weight", "blocks.1.norm.bias", "blocks.1.expand.weight", "blocks.1.expand.bias"])
    }

    func testReusingALayerSharesItsWeights() throws {
        let t = try trace(Shared(), input: .f32(2, 8), name: "shared")
        XCTAssertEqual(t.function.params.count, 2)
        XCTAssertEqual(t.function.nodes.filter { $0.op == .linear }.count, 2)
        let w = t.function.params[0]
        XCTAssertEqual(t.function.nodes.filter { $0.op == .linear && $0.inputs[1] == w }.count, 2)
    }

    func testScalarArithmeticAndBroadcastErrors() throws {
        struct Bad: Layer {
            var bias = Parameter([5], .constant(0))
            func callAsFunction(_ x: Tensor) -> Tensor { (x * 2 + 1) + bias }
        }
        XCTAssertThrowsError(try trace(Bad(), input: .f32(3, 4), name: "bad")) { e in
            XCTAssertTrue("\(e)".contains("f32[3,4]") && "\(e)".contains("f32[5]"), "\(e)")
        }
    }

    func testParameterInitializationIsSeededByName() throws {
        let a = try trace(Linear(4, 3), input: .f32(2, 4), name: "l", seed: 5).parameters
        let b = try trace(Linear(4, 3), input: .f32(2, 4), name: "l", seed: 5).parameters
        XCTAssertEqual(a.map(\.tensor), b.map(\.tensor))
        let bound = Float(1 / 2.0)
        XCTAssertTrue(a[0].tensor.floats.allSatisfy { abs($0) <= bound })
        let c = try trace(Linear(4, 3), input: .f32(2, 4), name: "l", seed: 6).parameters
        XCTAssertNotEqual(a[0].tensor, c[0].tensor)
    }
}
