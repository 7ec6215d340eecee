import XCTest
@testable import KilnFrontend
import KilnIR

private struct Inner: Layer {
    var norm = LayerNorm(8)
    var expand = Linear(8, 8)
    func callAsFunction(_ x: Tensor) -> Tensor { expand(norm(x)) }
}

private enum Mode { case fast, slow }

private struct Configured: Layer {
    var blocks: [Inner] = [Inner(), Inner()]
    var head: Linear? = Linear(8, 2)
    var missing: Linear? = nil
    var pair = (Linear(8, 8, bias: false), Linear(8, 8, bias: false))
    var scale = Parameter([8], .ones)
    let label = "configuration"
    let widths = [1, 2, 3]
    let mode = Mode.fast
    let act: @Sendable (Tensor) -> Tensor = { relu($0) }
    func callAsFunction(_ x: Tensor) -> Tensor {
        head!(pair.1(pair.0(blocks[1](blocks[0](x)))) * scale)
    }
}

final class ReflectionTests: XCTestCase {
    func testNestedLayersArraysOptionalsAndTuplesInDeclarationOrder() throws {
        let names = LayerInventory(Configured()).parameters.map(\.path)
        XCTAssertEqual(names, [
            "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.expand.weight", "blocks.0.expand.bias",
            "blocks.1.norm.weight", "blocks.1.norm.bias", "blocks.1.expand.weight", "blocks.1.expand.bias",
            "head.weight", "head.bias", "pair.0.weight", "pair.1.weight", "scale",
        ])
        let t = try trace(Configured(), input: .f32(3, 8), name: "c")
        XCTAssertEqual(t.function.params.map(t.function.name(of:)), names, "the signature follows declaration order")
    }

    func testLayerTypesAreRecordedPerPath() {
        let types = LayerInventory(Configured()).layerTypes
        XCTAssertEqual(types[""], "Configured")
        XCTAssertEqual(types["blocks.1"], "Inner")
        XCTAssertEqual(types["blocks.1.expand"], "Linear")
        XCTAssertEqual(types["head"], "Linear")
        XCTAssertNil(types["label"])
        XCTAssertEqual(LayerInventory(Repeat(count: 2, Inner())).layerTypes[""], "Repeat", "generic arguments dropped")
    }

    func testATiedParameterIsOneArgumentUnderItsFirstPath() throws {
        struct Tied: Layer {
            var a: Linear
            var b: Linear
            init() {
                a = Linear(4, 4)
                b = a  // the same Parameter objects: one weight, used twice
            }
            func callAsFunction(_ x: Tensor) -> Tensor { b(a(x)) }
        }
        let f = try trace(Tied(), input: .f32(1, 4), name: "t").function
        XCTAssertEqual(f.params.map(f.name(of:)), ["a.weight", "a.bias"])
        XCTAssertEqual(f.nodes.map { $0.inputs[1] }, [f.params[0], f.params[0]])
    }

    func testSequentialIndexesItsLayers() throws {
        let s = Sequential([Linear(4, 8), GELU(), Linear(8, 4), Sequential([LayerNorm(4)])])
        let f = try trace(s, input: .f32(2, 4), name: "s").function
        XCTAssertEqual(f.params.map(f.name(of:)), ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
                                                    "layers.3.layers.0.weight", "layers.3.layers.0.bias"])
        XCTAssertEqual(f.nodes.map(\.op), [.linear, .gelu, .linear, .layer_norm])
    }
}
