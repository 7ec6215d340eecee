import XCTest
@testable import KilnFrontend
import KilnIR

final class ZooTraceTests: XCTestCase {
    /// A small input of the same kind as the model's default (batch 2, 8x8 images or 16 tokens).
    func smallInput(_ m: ZooModel) -> TensorType {
        let s = m.defaultInput.shape
        return s.count == 4 ? .f32(2, 8, 8, s[3]) : .f32(2, 16, s[2])
    }

    func opCounts(_ f: Function) -> [OpKind: Int] {
        var c: [OpKind: Int] = [:]
        for n in f.nodes { c[n.op, default: 0] += 1 }
        return c
    }

    func testEveryModelTracesVerifiesAndNamesParameters() throws {
        for m in Zoo.models {
            for input in [m.defaultInput, smallInput(m)] {
                let t = try m.trace(input: input)
                try t.function.verify()
                XCTAssertEqual(t.function.type(of: t.function.inputs[0]), input, m.name)
                XCTAssertEqual(t.function.type(of: t.function.results[0]), input, "\(m.name): a residual block keeps its shape")
                let names = t.function.params.map(t.function.name(of:))
                XCTAssertEqual(names, t.parameters.map(\.name), m.name)
                XCTAssertEqual(Set(names).count, names.count, "\(m.name): parameter names are unique")
                for (p, (_, value)) in zip(t.function.params, t.parameters) {
                    XCTAssertEqual(value.type, t.function.type(of: p), m.name)
                }
                XCTAssertTrue(names.allSatisfy { !$0.isEmpty && !$0.hasPrefix(".") && !$0.hasSuffix(".") }, "\(m.name): \(names)")
            }
        }
    }

    func testTracingIsDeterministicInTheSeed() throws {
        for m in Zoo.models {
            let input = smallInput(m)
            let a = try m.trace(input: input, seed: 1), b = try m.trace(input: input, seed: 1), c = try m.trace(input: input, seed: 2)
            XCTAssertEqual(a.function, b.function, m.name)
            XCTAssertEqual(a.parameters.map(\.tensor), b.parameters.map(\.tensor), m.name)
            XCTAssertNotEqual(a.parameters.map(\.tensor), c.parameters.map(\.tensor), m.name)
        }
    }

    func testConvNeXtStructure() throws {
        let f = try Zoo.model(named: "convnext-block")!.trace().function
        let counts = opCounts(f)
        XCTAssertEqual(counts[.conv2d], 1)
        XCTAssertEqual(counts[.linear], 2)
        XCTAssertEqual(counts[.layer_norm], 1)
        XCTAssertEqual(counts[.gelu], 1)
        XCTAssertEqual(f.nodes.first { $0.op == .conv2d }?.attributes["groups"], .int(96))
        XCTAssertEqual(f.nodes.first { $0.op == .conv2d }?.attributes["padding"], .ints([3, 3, 3, 3]))
        XCTAssertEqual(f.params.map(f.name(of:)), ["dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias",
                                                    "pwconv1.weight", "pwconv1.bias", "pwconv2.weight", "pwconv2.bias", "gamma"])
    }

    func testMobileNetAndResNetStructure() throws {
        let mb = opCounts(try Zoo.model(named: "mobilenetv2-block")!.trace().function)
        XCTAssertEqual(mb[.conv2d], 3)
        XCTAssertEqual(mb[.batch_norm], 3)
        XCTAssertEqual(mb[.relu6], 2)
        let rn = opCounts(try Zoo.model(named: "resnet-basic-block")!.trace().function)
        XCTAssertEqual(rn[.conv2d], 2)
        XCTAssertEqual(rn[.relu], 2)
    }

    func testSequenceModelsUseTheRightGate() throws {
        for (name, gate) in [("gla-block", "key"), ("deltanet-layer", "delta"), ("retnet-layer", "scalar")] {
            let f = try Zoo.model(named: name)!.trace().function
            let la = f.nodes.filter { $0.op == .linear_attention }
            XCTAssertEqual(la.count, 1, name)
            XCTAssertEqual(la.first?.attributes["gate"], .symbol(gate), name)
            XCTAssertEqual(la.first.map { f.type(of: $0.inputs[0]) }, .f32(1, 1024, 4, 128), name)
        }
    }

    func testRecursiveFFNIsOneRepeatWithOneBody() throws {
        let f = try Zoo.model(named: "recursive-ffn")!.trace().function
        XCTAssertEqual(f.nodes.filter { $0.op == .repeat }.count, 1)
        XCTAssertEqual(f.nodes.count, 1, "nothing is unrolled outside the repeat")
        let node = f.nodes[0]
        XCTAssertEqual(node.attributes["count"], .int(4))
        let body = node.regions[0]
        XCTAssertEqual(opCounts(body)[.linear], 2, "the body is traced once")
        XCTAssertEqual(node.inputs.count, 1 + f.params.count, "every parameter is a captured operand")
        XCTAssertEqual(f.params.map(f.name(of:)), ["body.norm.weight", "body.norm.bias", "body.fc1.weight", "body.fc1.bias",
                                                    "body.fc2.weight", "body.fc2.bias"])
    }

    /// FLOPs from the op table match an analytic count of the convolution and linears.
    func testConvNeXtFlops() throws {
        let f = try Zoo.model(named: "convnext-block")!.trace().function
        let pixels = 56.0 * 56, c = 96.0
        let analytic = pixels * c * 49 * 2 + 2 * (pixels * c * 4 * c * 2)
        XCTAssertEqual(f.flops, analytic, accuracy: analytic * 0.05)
    }
}
