import XCTest
@testable import KilnFrontend
import KilnIR

/// Runs `body` on a traced input of type `input` and returns the function.
private func traced(_ input: TensorType, _ body: @escaping (Tensor) -> Tensor) throws -> Function {
    try trace(Lambda(body), input: input, name: "t").function
}

/// The free functions and operators emit the op they name, with the expected types, and
/// the standard layers emit their op with the layout conventions of the op table.
final class TensorOpsTests: XCTestCase {
    func testUnaryFunctions() throws {
        let cases: [(OpKind, (Tensor) -> Tensor)] = [
            (.exp, { exp($0) }), (.log, { log($0) }), (.sqrt, { sqrt($0) }), (.rsqrt, { rsqrt($0) }),
            (.tanh, { tanh($0) }), (.sigmoid, { sigmoid($0) }), (.logsigmoid, { logSigmoid($0) }),
            (.relu, { relu($0) }), (.relu6, { relu6($0) }), (.gelu, { gelu($0) }), (.silu, { silu($0) }),
            (.softplus, { softplus($0) }), (.abs, { abs($0) }), (.neg, { -$0 }),
            (.softmax, { softmax($0) }), (.log_softmax, { logSoftmax($0) }), (.cumsum, { cumsum($0, axis: 1) }),
        ]
        for (kind, body) in cases {
            let f = try traced(.f32(2, 3), body)
            XCTAssertEqual(f.nodes.map(\.op), [kind], "\(kind)")
            XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 3), "\(kind)")
        }
        let g = try traced(.f32(2, 3)) { gelu($0, approximate: "tanh") }
        XCTAssertEqual(g.nodes[0].attributes["approximate"], .symbol("tanh"))
    }

    func testBinaryOperatorsAndScalars() throws {
        let f = try traced(.f32(2, 3)) { x in
            let y = (x + x) - x * x / x
            return maximum(minimum(y + 1, 2 - y), y * 0.5 / 3)
        }
        XCTAssertEqual(f.nodes.filter { $0.op == .constant }.count, 4, "each Float is a scalar constant")
        for n in f.nodes where n.op == .constant { XCTAssertEqual(f.type(of: n.outputs[0]), .f32()) }
        XCTAssertEqual(Set(f.nodes.map(\.op)), [.add, .sub, .mul, .div, .max, .min, .constant])
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 3))
    }

    func testReductionsAndLayout() throws {
        var f = try traced(.f32(2, 3, 4)) { sum($0, axes: [1]) + mean($0, axes: [1]) + max($0, axes: [1], keepdims: false) }
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 4))
        f = try traced(.f32(2, 3, 4)) { reshape($0, [6, -1]) }
        XCTAssertEqual(f.type(of: f.results[0]), .f32(6, 4))
        f = try traced(.f32(2, 3, 4)) { transposed($0) }
        XCTAssertEqual(f.nodes[0].attributes["perm"], .ints([0, 2, 1]))
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 4, 3))
        f = try traced(.f32(2, 3, 4)) { permute($0, [2, 0, 1]) }
        XCTAssertEqual(f.type(of: f.results[0]), .f32(4, 2, 3))
        f = try traced(.f32(2, 3, 4)) { x in
            let parts = split(x, axis: -1, sizes: [1, 3])
            return concat([parts[1], parts[0]], axis: -1) + slice(x, axis: 0, start: 0, end: 1)
        }
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 3, 4))
        f = try traced(.f32(3, 4)) { broadcast($0, to: [2, 3, 4]) }
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 3, 4))
        f = try traced(.f32(2, 3, 4)) { matmul($0, transposed($0)) }
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 3, 3))
        f = try traced(.f32(2, 3)) { $0 + constant([1, 2, 3], shape: [3]) }
        XCTAssertEqual(f.nodes[0].attributes["values"], .floats([1, 2, 3]))
    }

    func testLinearAttentionFunction() throws {
        let f = try traced(.f32(1, 16, 2, 8)) { q in
            let g = logSigmoid(q)
            let outs = linearAttention(q: q, k: q, v: q, gate: .key, g: g, finalState: true)
            XCTAssertEqual(outs.map(\.shape), [[1, 16, 2, 8], [1, 2, 8, 8]])
            return outs[0]
        }
        let la = try XCTUnwrap(f.nodes.first { $0.op == .linear_attention })
        XCTAssertEqual(la.attributes["scale"], .float(1 / 8.0.squareRoot()))
        XCTAssertEqual(la.attributes["final_state"], .bool(true))
    }

    func testConvolutionAndPoolingLayers() throws {
        var f = try trace(Conv2D(8, 16, kernel: (3, 3), stride: 2, padding: [1, 1, 1, 1]), input: .f32(1, 8, 8, 8), name: "c").function
        XCTAssertEqual(f.type(of: f.results[0]), .f32(1, 4, 4, 16))
        XCTAssertEqual(f.type(of: f.params[0]), .f32(3, 3, 8, 16), "weight [KH, KW, C/groups, O]")
        f = try trace(Conv2D(8, 8, kernel: (5, 5), groups: 8, bias: false), input: .f32(1, 8, 8, 8), name: "dw").function
        XCTAssertEqual(f.type(of: f.results[0]), .f32(1, 8, 8, 8), "same padding by default")
        XCTAssertEqual(f.params.map(f.name(of:)), ["weight"])
        f = try trace(Conv1D(4, 6, kernel: 3, dilation: 2), input: .f32(1, 10, 4), name: "c1").function
        XCTAssertEqual(f.nodes[0].attributes["padding"], .ints([4, 0]), "causal: (K-1)*dilation on the left")
        XCTAssertEqual(f.type(of: f.results[0]), .f32(1, 10, 6))
        f = try trace(Pool2D(.max, window: 2, stride: 2), input: .f32(1, 8, 8, 3), name: "p").function
        XCTAssertEqual(f.nodes.map(\.op), [.max_pool2d])
        XCTAssertEqual(f.type(of: f.results[0]), .f32(1, 4, 4, 3))
    }

    func testNormalizationLayers() throws {
        var f = try trace(BatchNorm(4), input: .f32(2, 3, 3, 4), name: "bn").function
        XCTAssertEqual(f.params.map(f.name(of:)), ["weight", "bias", "runningMean", "runningVar"])
        XCTAssertEqual(f.nodes[0].attributes["training"], .bool(false))
        f = try trace(BatchNorm(4, training: true), input: .f32(2, 3, 3, 4), name: "bn").function
        XCTAssertEqual(f.nodes[0].attributes["training"], .bool(true))
        f = try trace(RMSNorm(4), input: .f32(2, 4), name: "r").function
        XCTAssertEqual(f.nodes.map(\.op), [.rms_norm])
        f = try trace(LayerNorm(4, eps: 1e-3), input: .f32(2, 4), name: "l").function
        XCTAssertEqual(f.nodes[0].attributes["eps"], .float(1e-3))
    }

    func testEmbeddingTakesIntegerIds() throws {
        let f = try trace(Embedding(vocab: 10, dim: 4), input: TensorType(.i32, [2, 5]), name: "e").function
        XCTAssertEqual(f.type(of: f.results[0]), .f32(2, 5, 4))
        XCTAssertEqual(f.params.map(f.name(of:)), ["weight"])
    }
}
