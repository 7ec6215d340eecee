import Foundation
import XCTest
import Kiln

/// d/dx <f(x), c> from the gradient graph against central finite differences in one random
/// direction t (fp64 interpreter): (L(x + e t) - L(x - e t)) / 2e = <grad, t>. With L = <y, c>
/// this is also the dot-product test <J t, c> = <t, J^T c>.
final class GradientCheckTests: XCTestCase {
    /// Wraps `body` (which maps the arguments to one output) into L = sum(output * cot).
    func lossFunction(_ types: [TensorType], _ body: (FunctionBuilder, [ValueID]) throws -> ValueID) throws -> Function {
        let b = FunctionBuilder(name: "f")
        let args = try types.enumerated().map { try b.addInput("a\($0.offset)", $0.element) }
        let y = try body(b, args)
        let cot = try b.addInput("cot", b.type(of: y))
        let prod = try b.add1(.mul, [y, cot])
        let loss = try b.add1(.reduce_sum, [prod], attributes: ["axes": .ints(Array(0..<b.type(of: y).rank))])
        return b.finish(results: [loss])
    }

    func values(_ t: TensorType, seed: UInt64, name: String, positive: Bool) -> HostTensor {
        var rng = SeededRandom(seed: seed, name: name)
        return HostTensor(shape: t.shape, doubles: (0..<t.elementCount).map { _ in positive ? rng.uniform(0.5, 1.5) : rng.uniform(-1, 1) })
    }

    func check(_ f: Function, wrt: [String]? = nil, positive: Bool = false, tol: Double = 1e-6, base: [String: HostTensor] = [:], eps: Double = 1e-5,
               _ what: String, line: UInt = #line) throws {
        let names = wrt ?? f.arguments.map { f.name(of: $0) }.filter { $0 != "cot" }
        let g = try gradient(of: f, wrt: names)
        XCTAssertEqual(try parseFunction(g.printed()), g, "\(what): the gradient graph round-trips", line: line)
        var inputs: [String: HostTensor] = [:]
        for a in f.arguments { inputs[f.name(of: a)] = base[f.name(of: a)] ?? values(f.type(of: a), seed: 1, name: f.name(of: a), positive: positive) }
        let interp = Interpreter(precision: .f64)
        let grads = try interp.run(g, inputs: inputs)
        // Random direction over all differentiated arguments.
        var dirs: [String: [Double]] = [:]
        var predicted = 0.0
        for (i, name) in names.enumerated() {
            let t = values(inputs[name]!.type, seed: 2, name: name, positive: false).doubles
            dirs[name] = t
            predicted += zip(grads[i + 1].doubles, t).reduce(0) { $0 + $1.0 * $1.1 }
        }
        func loss(_ sign: Double) throws -> Double {
            var shifted = inputs
            for (name, t) in dirs {
                shifted[name] = HostTensor(shape: inputs[name]!.shape, doubles: zip(inputs[name]!.doubles, t).map { $0 + sign * eps * $1 })
            }
            return try interp.run(f, inputs: shifted)[0].doubles[0]
        }
        let numeric = (try loss(1) - loss(-1)) / (2 * eps)
        XCTAssertEqual(numeric, predicted, accuracy: tol * max(1, abs(numeric)), "\(what): finite difference vs gradient", line: line)
        XCTAssertEqual(grads[0].doubles[0], try interp.run(f, inputs: inputs)[0].doubles[0], accuracy: 1e-12, "\(what): loss", line: line)
        // The same gradient graph compiled (fp32) agrees with the fp32 interpreter.
        let want = try Interpreter().run(g, inputs: inputs)
        let got = try Executable(g, threads: 2).run(inputs)
        for (w, o) in zip(want, got) {
            // Relative to the tensor's scale: fp32 sums of many products differ in order, not in value.
            // A ReLU whose input sits at 0 up to rounding may take either side, so allow 0.1% of
            // elements to differ (kinks), and require the rest to agree.
            // At least 1: a loss that cancels to near 0 (a sum of +-1 products) is compared absolutely.
            let scale = max(w.floats.map { abs($0) }.max() ?? 0, 1)
            let off = zip(w.floats, o.floats).filter { abs($0 - $1) > 1e-4 * scale }.count
            XCTAssertLessThanOrEqual(Double(off), 0.001 * Double(w.elementCount), "\(what): compiled gradient", line: line)
        }
    }

    func unary(_ op: OpKind, _ attrs: Attributes = [:], positive: Bool = false) throws {
        try check(try lossFunction([.f32(3, 5)]) { b, a in try b.add1(op, [a[0]], attributes: attrs) }, positive: positive, "\(op) \(attrs)")
    }

    func testUnaryOps() throws {
        for op in [OpKind.neg, .exp, .tanh, .sigmoid, .logsigmoid, .relu, .relu6, .silu, .softplus, .abs, .gelu, .erf] { try unary(op) }
        try unary(.gelu, ["approximate": .symbol("tanh")])
        for op in [OpKind.log, .sqrt, .rsqrt] { try unary(op, positive: true) }
    }

    func testBinaryOpsWithBroadcasting() throws {
        for op in [OpKind.add, .sub, .mul, .div, .max, .min] {
            try check(try lossFunction([.f32(2, 1, 4), .f32(3, 1)]) { b, a in try b.add1(op, a) }, positive: op == .div, "\(op)")
        }
    }

    func testContractions() throws {
        try check(try lossFunction([.f32(2, 1, 3, 4), .f32(5, 4, 2)]) { b, a in try b.add1(.matmul, a) }, "matmul")
        try check(try lossFunction([.f32(2, 3, 4), .f32(4, 5), .f32(5)]) { b, a in try b.add1(.linear, a) }, "linear")
    }

    func testNormalizations() throws {
        try check(try lossFunction([.f32(3, 6), .f32(6), .f32(6)]) { b, a in try b.add1(.layer_norm, a) }, "layer_norm")
        try check(try lossFunction([.f32(3, 6), .f32(6)]) { b, a in try b.add1(.rms_norm, a) }, "rms_norm")
        for training in [false, true] {
            try check(try lossFunction([.f32(2, 3, 4), .f32(4), .f32(4), .f32(4), .f32(4)]) { b, a in
                try b.add1(.batch_norm, a, attributes: ["training": .bool(training)])
            }, positive: true, "batch_norm training=\(training)")
        }
        try check(try lossFunction([.f32(3, 5)]) { b, a in try b.add1(.softmax, a, attributes: ["axis": .int(0)]) }, "softmax")
        try check(try lossFunction([.f32(3, 5)]) { b, a in try b.add1(.log_softmax, a) }, "log_softmax")
    }

    func testReductionsAndLayout() throws {
        try check(try lossFunction([.f32(2, 3, 4)]) { b, a in try b.add1(.reduce_sum, a, attributes: ["axes": .ints([0, 2])]) }, "sum")
        try check(try lossFunction([.f32(2, 3, 4)]) { b, a in try b.add1(.reduce_mean, a, attributes: ["axes": .ints([1]), "keepdims": .bool(true)]) }, "mean")
        try check(try lossFunction([.f32(2, 3, 4)]) { b, a in try b.add1(.reduce_max, a, attributes: ["axes": .ints([-1])]) }, "max")
        try check(try lossFunction([.f32(2, 3, 4)]) { b, a in try b.add1(.permute, a, attributes: ["perm": .ints([2, 0, 1])]) }, "permute")
        try check(try lossFunction([.f32(2, 6)]) { b, a in try b.add1(.reshape, a, attributes: ["shape": .ints([3, 4])]) }, "reshape")
        try check(try lossFunction([.f32(3, 1)]) { b, a in try b.add1(.broadcast, a, attributes: ["shape": .ints([2, 3, 4])]) }, "broadcast")
        for step in [1, 2, 3] {
            try check(try lossFunction([.f32(2, 9, 3)]) { b, a in
                try b.add1(.slice, a, attributes: ["axis": .int(1), "start": .int(1), "end": .int(8), "step": .int(step)])
            }, "slice step \(step)")
        }
        try check(try lossFunction([.f32(2, 1, 3), .f32(2, 4, 3)]) { b, a in try b.add1(.concat, a, attributes: ["axis": .int(1)]) }, "concat")
        try check(try lossFunction([.f32(2, 5, 3)]) { b, a in
            let parts = try b.add(.split, a, attributes: ["axis": .int(1), "sizes": .ints([2, 3])])
            return try b.add1(.mul, [try b.add1(.reduce_sum, [parts[0]], attributes: ["axes": .ints([1]), "keepdims": .bool(true)]), parts[1]])
        }, "split")
        for (rev, exc) in [(false, false), (true, false), (false, true), (true, true)] {
            try check(try lossFunction([.f32(3, 5)]) { b, a in
                try b.add1(.cumsum, a, attributes: ["axis": .int(1), "reverse": .bool(rev), "exclusive": .bool(exc)])
            }, "cumsum \(rev) \(exc)")
        }
    }

    func testConvolutions() throws {
        let variants: [(TensorType, TensorType, Attributes)] = [
            (.f32(2, 7, 6, 4), .f32(3, 3, 2, 6), ["stride": .ints([2, 1]), "padding": .ints([1, 0, 2, 1]), "dilation": .ints([1, 2]), "groups": .int(2)]),
            (.f32(1, 6, 6, 5), .f32(3, 3, 1, 5), ["padding": .ints([1, 1, 1, 1]), "groups": .int(5)]),
            (.f32(1, 5, 5, 3), .f32(2, 2, 3, 4), ["stride": .ints([2, 2])]),
        ]
        for (xt, wt, attrs) in variants {
            try check(try lossFunction([xt, wt, .f32(wt.shape[3])]) { b, a in try b.add1(.conv2d, a, attributes: attrs) }, "conv2d \(attrs)")
        }
        try check(try lossFunction([.f32(2, 11, 3), .f32(3, 3, 4), .f32(4)]) { b, a in
            try b.add1(.conv1d, a, attributes: ["padding": .ints([4, 0]), "dilation": .int(2)])
        }, "causal conv1d")
    }

    func testPoolingAndEmbedding() throws {
        let attrs: Attributes = ["window": .ints([3, 2]), "stride": .ints([2, 1]), "padding": .ints([1, 1, 0, 1])]
        for op in [OpKind.max_pool2d, .avg_pool2d] {
            try check(try lossFunction([.f32(2, 5, 4, 3)]) { b, a in try b.add1(op, a, attributes: attrs) }, "\(op)")
        }
        let b = FunctionBuilder(name: "emb")
        let table = try b.addParam("table", .f32(5, 3))
        let ids = try b.add1(.constant, [], attributes: ["dtype": .symbol("i32"), "shape": .ints([2, 4]), "values": .floats([0, 3, 3, 1, 4, 0, 2, 3])])
        let y = try b.add1(.embedding, [table, ids])
        let cot = try b.addInput("cot", b.type(of: y))
        let loss = try b.add1(.reduce_sum, [try b.add1(.mul, [y, cot])], attributes: ["axes": .ints([0, 1, 2])])
        try check(b.finish(results: [loss]), wrt: ["table"], "embedding")
    }

    /// Every gate kind, with h0, a final-state cotangent and gates through logsigmoid / sigmoid.
    func testLinearAttention() throws {
        let (bs, t, h, dk, dv) = (2, 6, 2, 3, 4)
        for gate in LinearAttentionGate.allCases {
            let gt: [TensorType] = gate == .key ? [.f32(bs, t, h, dk)] : gate == .none ? [] : [.f32(bs, t, h)]
            let types: [TensorType] = [.f32(bs, t, h, dk), .f32(bs, t, h, dk), .f32(bs, t, h, dv)] + gt + [.f32(bs, h, dk, dv)]
            let f = try lossFunction(types) { b, a in
                var ops = Array(a.prefix(3))
                if gate != .none { ops.append(try b.add1(gate == .delta ? .sigmoid : .logsigmoid, [a[3]])) }
                ops.append(a.last!)
                let outs = try b.add(.linear_attention, ops, attributes: ["gate": .symbol(gate.rawValue), "scale": .float(0.7), "final_state": .bool(true)])
                // Fold the final state into the output so its cotangent is non-zero too.
                let s = try b.add1(.reduce_sum, [outs[1]], attributes: ["axes": .ints([2]), "keepdims": .bool(false)])
                let sb = try b.add1(.reshape, [s], attributes: ["shape": .ints([bs, 1, h, dv])])
                return try b.add1(.add, [outs[0], sb])
            }
            try check(f, "linear_attention \(gate)")
        }
    }

    /// Zoo models whose ops all have rules: the FFN block and the weight-shared recursive FFN.
    func testZooModels() throws {
        let inputs: [(String, TensorType)] = [("ffn-block", .f32(1, 3, 512)), ("recursive-ffn", .f32(1, 3, 512)),
            ("convnext-block", .f32(1, 5, 4, 96)), ("mobilenetv2-block", .f32(2, 4, 5, 24)), ("resnet-basic-block", .f32(1, 4, 4, 64)),
            ("hornet-block", .f32(1, 4, 5, 64)), ("inceptionnext-block", .f32(1, 6, 6, 96)), ("tcn-block", .f32(1, 9, 128)),
            ("gla-block", .f32(1, 5, 512)), ("deltanet-layer", .f32(1, 5, 512)), ("retnet-layer", .f32(1, 5, 512))]
        for (name, input) in inputs {
            let traced = try Zoo.model(named: name)!.trace(input: input)
            let b = FunctionBuilder(name: "loss")
            let f = traced.function
            let y = try b.appendCopy(of: f)[0]
            let cot = try b.addInput("cot", b.type(of: y))
            let loss = try b.add1(.reduce_sum, [try b.add1(.mul, [y, cot])], attributes: ["axes": .ints(Array(0..<b.type(of: y).rank))])
            let lf = b.finish(results: [loss])
            let params = f.params.map { f.name(of: $0) }
            // The model's own initial parameters (BatchNorm variances must stay positive).
            var base: [String: HostTensor] = [:]
            for (n, t) in traced.parameters { base[n] = HostTensor(shape: t.shape, doubles: t.doubles) }
            // A small step so the direction rarely carries an activation across a ReLU kink.
            try check(lf, wrt: ["x"] + params, tol: 1e-5, base: base, eps: 1e-7, name)
            let g = try gradient(of: lf, wrt: params)
            XCTAssertEqual(g.results.count, 1 + params.count)
        }
    }

    /// Cheap pointwise forward values are recomputed in the backward part, expensive ones kept.
    func testPointwiseValuesAreRecomputedNotSaved() throws {
        let f = try Zoo.model(named: "ffn-block")!.trace(input: .f32(1, 4, 512)).function
        let (loss, _) = try LossFunction.wrap(f)
        let report = try gradientWithReport(of: loss, wrt: loss.params.map { loss.name(of: $0) })
        let g = report.function
        let forward = g.nodes.prefix(report.forwardNodes)
        let geluOut = g.name(of: forward.first { $0.op == .gelu }!.outputs[0])
        let linearOuts = forward.filter { $0.op == .linear }.map { g.name(of: $0.outputs[0]) }
        XCTAssertTrue(report.recomputedValues.contains(geluOut))
        XCTAssertFalse(report.savedValues.contains(geluOut))
        XCTAssertTrue(linearOuts.allSatisfy(report.savedValues.contains), "\(report.savedValues)")
        // Nothing the backward part reads from the forward part is a cheap pointwise value.
        for name in report.savedValues {
            let v = g.value(named: name)!
            if let p = g.producers()[v.index] { XCTAssertFalse([OpCategory.unary, .binary].contains(g.nodes[p].op.info.category), name) }
        }
    }

    func testErrors() throws {
        let b = FunctionBuilder(name: "f")
        let x = try b.addInput("x", .f32(3))
        let f = b.finish(results: [try b.add1(.exp, [x])])
        XCTAssertThrowsError(try gradient(of: f, wrt: ["x"])) { XCTAssertTrue("\($0)".contains("scalar f32[] loss"), "\($0)") }
        let l = try lossFunction([.f32(3)]) { b, a in try b.add1(.exp, a) }
        XCTAssertThrowsError(try gradient(of: l, wrt: ["nope"])) { XCTAssertTrue("\($0)".contains("'nope' is not an argument"), "\($0)") }
        let second = try lossFunction([.f32(1, 4, 4, 2), .f32(1, 4, 4, 2)]) { b, a in
            try b.add1(.max_pool2d_backward, a, attributes: ["window": .ints([1, 1]), "stride": .ints([1, 1])])
        }
        XCTAssertThrowsError(try gradient(of: second, wrt: ["a0"])) { XCTAssertTrue("\($0)".contains("no VJP rule for max_pool2d_backward"), "\($0)") }
    }
}
