import XCTest
@testable import KilnFrontend
import KilnIR

/// Per-model structure: op counts, attributes that define each architecture, and exact
/// parameter counts computed from the architecture's formula. Traced at small inputs where
/// the structure does not depend on spatial size, to keep the suite fast.
final class ZooStructureTests: XCTestCase {
    func traced(_ name: String, _ input: TensorType? = nil) throws -> Function {
        try XCTUnwrap(Zoo.model(named: name), name).trace(input: input).function
    }

    func counts(_ f: Function) -> [OpKind: Int] {
        var c: [OpKind: Int] = [:]
        for n in f.nodes { c[n.op, default: 0] += 1 }
        return c
    }

    func nodes(_ f: Function, _ op: OpKind) -> [Node] { f.nodes.filter { $0.op == op } }

    func testZooNamesAndOrder() {
        XCTAssertEqual(Zoo.models.map(\.name), [
            "convnext-block", "mobilenetv2-block", "resnet-basic-block", "hornet-block", "inceptionnext-block",
            "ffn-block", "gla-block", "deltanet-layer", "retnet-layer", "tcn-block", "recursive-ffn",
        ])
        XCTAssertNil(Zoo.model(named: "no-such-model"))
        XCTAssertEqual(Zoo.model(named: "gla-block")?.defaultInput, .f32(1, 1024, 512))
        XCTAssertEqual(Zoo.model(named: "mobilenetv2-block")?.defaultInput, .f32(1, 56, 56, 24))
    }

    func testParameterCountsMatchTheArchitectures() throws {
        func lin(_ i: Int, _ o: Int, bias: Bool = true) -> Int { i * o + (bias ? o : 0) }
        func dw(_ k: Int, _ c: Int, bias: Bool = true) -> Int { k * c + (bias ? c : 0) }
        let c96 = 96, d = 512
        let ffn = 2 * d + lin(d, 4 * d) + lin(4 * d, d)
        let expected: [String: Int] = [
            "convnext-block": dw(49, c96) + 2 * c96 + lin(c96, 4 * c96) + lin(4 * c96, c96) + c96,
            "mobilenetv2-block": 24 * 144 + 4 * 144 + 9 * 144 + 4 * 144 + 144 * 24 + 4 * 24,
            "resnet-basic-block": 2 * (9 * 64 * 64) + 2 * (4 * 64),
            "hornet-block": 2 * 64 + lin(64, 128) + dw(49, 112) + lin(16, 32) + lin(32, 64) + lin(64, 64) + 64
                + 2 * 64 + lin(64, 256) + lin(256, 64) + 64,
            "inceptionnext-block": dw(9, 12) + dw(11, 12) + dw(11, 12) + 4 * c96 + lin(c96, 4 * c96) + lin(4 * c96, c96) + c96,
            "ffn-block": ffn,
            "gla-block": d + 3 * d * d + lin(d, 16, bias: false) + lin(16, d) + 2 * d * d + d + 3 * d * 1024,
            "deltanet-layer": d + 3 * d * d + lin(d, 4) + d * d,
            "retnet-layer": d + 4 * d * d,
            "tcn-block": 3 * lin(3 * 128, 128),
            "recursive-ffn": ffn,
        ]
        for m in Zoo.models {
            let t = try m.trace(input: smallInput(m))
            XCTAssertEqual(t.parameterCount, expected[m.name], m.name)
            XCTAssertEqual(t.function.parameterCount, expected[m.name], m.name)
        }
    }

    func testConvNeXt() throws {
        let f = try traced("convnext-block", .f32(1, 8, 8, 96))
        XCTAssertEqual(counts(f), [.conv2d: 1, .layer_norm: 1, .linear: 2, .gelu: 1, .mul: 1, .add: 1])
        let conv = try XCTUnwrap(nodes(f, .conv2d).first)
        XCTAssertEqual(conv.attributes["groups"], .int(96))
        XCTAssertEqual(conv.attributes["padding"], .ints([3, 3, 3, 3]))
        XCTAssertEqual(f.type(of: conv.inputs[1]), .f32(7, 7, 1, 96))
        XCTAssertEqual(nodes(f, .linear).map { f.type(of: $0.inputs[1]) }, [.f32(96, 384), .f32(384, 96)])
        XCTAssertEqual(f.params.map(f.name(of:)), ["dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias",
                                                    "pwconv1.weight", "pwconv1.bias", "pwconv2.weight", "pwconv2.bias", "gamma"])
    }

    func testMobileNetV2() throws {
        let f = try traced("mobilenetv2-block", .f32(1, 8, 8, 24))
        XCTAssertEqual(counts(f), [.conv2d: 3, .batch_norm: 3, .relu6: 2, .add: 1])
        XCTAssertEqual(nodes(f, .conv2d).map { $0.attributes["groups"] }, [.int(1), .int(144), .int(1)])
        XCTAssertEqual(nodes(f, .conv2d).map { f.type(of: $0.outputs[0]).shape.last }, [144, 144, 24])
        XCTAssertTrue(nodes(f, .batch_norm).allSatisfy { $0.attributes["training"] == .bool(false) })
    }

    func testResNetBasic() throws {
        let f = try traced("resnet-basic-block", .f32(1, 8, 8, 64))
        XCTAssertEqual(counts(f), [.conv2d: 2, .batch_norm: 2, .relu: 2, .add: 1])
        XCTAssertTrue(nodes(f, .conv2d).allSatisfy { $0.attributes["padding"] == .ints([1, 1, 1, 1]) && $0.inputs.count == 2 })
        XCTAssertEqual(f.nodes.last?.op, .relu, "the final ReLU comes after the residual add")
    }

    func testHorNet() throws {
        let f = try traced("hornet-block", .f32(1, 8, 8, 64))
        let c = counts(f)
        XCTAssertEqual(c[.conv2d], 1)
        XCTAssertEqual(c[.linear], 6, "proj_in, two pws, proj_out, and the MLP's two")
        XCTAssertEqual(c[.layer_norm], 2)
        XCTAssertEqual(c[.split], 2)
        XCTAssertEqual(nodes(f, .conv2d).first?.attributes["groups"], .int(112), "depthwise over 16+32+64 channels")
        XCTAssertEqual(nodes(f, .split).map { $0.attributes["sizes"] }, [.ints([16, 112]), .ints([16, 32, 64])])
        XCTAssertEqual(c[.add], 2, "two residuals")
    }

    func testInceptionNeXt() throws {
        let f = try traced("inceptionnext-block", .f32(1, 16, 16, 96))
        XCTAssertEqual(counts(f)[.conv2d], 3)
        XCTAssertEqual(nodes(f, .split).first?.attributes["sizes"], .ints([60, 12, 12, 12]))
        XCTAssertEqual(nodes(f, .conv2d).map { f.type(of: $0.inputs[1]).shape }, [[3, 3, 1, 12], [1, 11, 1, 12], [11, 1, 1, 12]])
        XCTAssertEqual(nodes(f, .conv2d).map { $0.attributes["padding"] }, [.ints([1, 1, 1, 1]), .ints([0, 0, 5, 5]), .ints([5, 5, 0, 0])])
        XCTAssertEqual(counts(f)[.concat], 1)
        XCTAssertEqual(counts(f)[.batch_norm], 1)
        XCTAssertEqual(counts(f)[.linear], 2)
    }

    func testFFN() throws {
        let f = try traced("ffn-block", .f32(1, 16, 512))
        XCTAssertEqual(counts(f), [.layer_norm: 1, .linear: 2, .gelu: 1, .add: 1])
    }

    func testGLA() throws {
        let f = try traced("gla-block", .f32(1, 16, 512))
        let la = try XCTUnwrap(nodes(f, .linear_attention).first)
        XCTAssertEqual(la.attributes["gate"], .symbol("key"))
        XCTAssertEqual(la.attributes.float("scale"), 1 / 128.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(f.type(of: la.inputs[3]), .f32(1, 16, 4, 128), "one gate per key dimension")
        // Low-rank gate d -> 16 -> H*Dk, logsigmoid, then / 16.
        XCTAssertTrue(nodes(f, .linear).contains { f.type(of: $0.inputs[1]) == .f32(512, 16) })
        XCTAssertTrue(nodes(f, .linear).contains { f.type(of: $0.inputs[1]) == .f32(16, 512) })
        XCTAssertEqual(counts(f)[.logsigmoid], 1)
        XCTAssertEqual(counts(f)[.rms_norm], 2)
        XCTAssertEqual(counts(f)[.silu], 2, "output gate and SwiGLU")
        XCTAssertEqual(counts(f)[.linear], 10)
        XCTAssertEqual(counts(f)[.add], 2)
    }

    func testDeltaNet() throws {
        let f = try traced("deltanet-layer", .f32(1, 16, 512))
        let la = try XCTUnwrap(nodes(f, .linear_attention).first)
        XCTAssertEqual(la.attributes["gate"], .symbol("delta"))
        XCTAssertEqual(f.type(of: la.inputs[3]), .f32(1, 16, 4), "one beta per head")
        XCTAssertEqual(counts(f)[.rsqrt], 2, "q and k are L2-normalized")
        XCTAssertEqual(nodes(f, .reduce_sum).map { $0.attributes["axes"] }, [.ints([-1]), .ints([-1])])
        XCTAssertEqual(counts(f)[.sigmoid], 1)
    }

    func testRetNet() throws {
        let f = try traced("retnet-layer", .f32(2, 16, 512))
        let la = try XCTUnwrap(nodes(f, .linear_attention).first)
        XCTAssertEqual(la.attributes["gate"], .symbol("scalar"))
        XCTAssertEqual(f.type(of: la.inputs[3]), .f32(2, 16, 4))
        let decays = try XCTUnwrap(nodes(f, .constant).first { f.type(of: $0.outputs[0]) == .f32(4) })
        let expected = (0..<4).map { log(1 - pow(2.0, -5.0 - Double($0))) }
        guard case .floats(let got)? = decays.attributes["values"] else { return XCTFail("decays are not a constant tensor") }
        for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: 1e-7) }
        XCTAssertTrue(got.allSatisfy { $0 < 0 }, "log-space gates are negative")
    }

    func testTCN() throws {
        let f = try traced("tcn-block", .f32(1, 16, 128))
        let convs = nodes(f, .conv1d)
        XCTAssertEqual(convs.map { $0.attributes["dilation"] }, [.int(1), .int(2), .int(4)])
        XCTAssertEqual(convs.map { $0.attributes["padding"] }, [.ints([2, 0]), .ints([4, 0]), .ints([8, 0])], "causal")
        XCTAssertEqual(counts(f)[.relu], 3)
        XCTAssertEqual(counts(f)[.add], 1)
    }

    func testRecursiveFFNIsOneRepeatWithOneBody() throws {
        let f = try traced("recursive-ffn", .f32(1, 16, 512))
        XCTAssertEqual(f.nodes.count, 1, "nothing is unrolled outside the repeat")
        let node = try XCTUnwrap(f.nodes.first { $0.op == .repeat })
        XCTAssertEqual(node.attributes["count"], .int(4))
        let body = try XCTUnwrap(node.regions.first)
        XCTAssertEqual(counts(body), [.layer_norm: 1, .linear: 2, .gelu: 1, .add: 1], "the body is traced once")
        XCTAssertEqual(node.inputs.count, 1 + f.params.count, "every parameter is a captured operand")
        XCTAssertEqual(Array(node.inputs.dropFirst()), f.params)
        XCTAssertEqual(f.params.map(f.name(of:)), ["body.norm.weight", "body.norm.bias", "body.fc1.weight", "body.fc1.bias",
                                                    "body.fc2.weight", "body.fc2.bias"])
        XCTAssertEqual(body.inputs.map(body.name(of:)), ["x"] + f.params.map(f.name(of:)))
        let ffn = try traced("ffn-block", .f32(1, 16, 512))
        XCTAssertEqual(f.flops, 4 * ffn.flops, accuracy: ffn.flops * 1e-9, "four applications' worth of FLOPs")
    }

    /// FLOPs from the op table match an analytic count of the convolution and linears.
    func testConvNeXtFlops() throws {
        let f = try traced("convnext-block")
        let pixels = 56.0 * 56, c = 96.0
        let analytic = pixels * c * 49 * 2 + 2 * (pixels * c * 4 * c * 2)
        XCTAssertEqual(f.flops, analytic, accuracy: analytic * 0.05)
    }
}

/// A small input of the same kind as the model's default (batch 2, 8x8 images or 16 tokens).
func smallInput(_ m: ZooModel) -> TensorType {
    let s = m.defaultInput.shape
    return s.count == 4 ? .f32(2, 8, 8, s[3]) : .f32(2, 16, s[2])
}
