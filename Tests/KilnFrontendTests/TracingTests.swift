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
    func callAsFunction(_ x: Tensor) -> Tensor { blocks[1](x) }
}

private struct Shared: Layer {
    var fc = Linear(8, 8)
    func callAsFunction(_ x: Tensor) -> Tensor { fc(fc(x)) }
}

/// A parameter-free op fails after `fc`: reshape to a size that does not divide.
private struct BadReshape: Layer {
    var fc = Linear(8, 6)
    func callAsFunction(_ x: Tensor) -> Tensor { reshape(fc(x), [4, 4]) }
}

final class TracingTests: XCTestCase {
    func testShapeErrorNamesLayerPathAndBothShapes() {
        XCTAssertThrowsError(try trace(Outer(), input: .f32(1, 4, 4, 64), name: "broken")) { e in
            XCTAssertTrue(e is TraceError)
            let msg = "\(e)"
            XCTAssertTrue(msg.hasPrefix("blocks.1.expand (Linear): linear: "), msg)
            XCTAssertTrue(msg.contains("f32[1,4,4,64]") && msg.contains("f32[96,128]"), msg)
        }
    }

    func testErrorsInParameterFreeOpsNameTheLayerBefore() {
        XCTAssertThrowsError(try trace(BadReshape(), input: .f32(2, 8), name: "bad")) { e in
            XCTAssertTrue("\(e)".hasPrefix("after fc (Linear): reshape"), "\(e)")
            XCTAssertTrue("\(e)".contains("f32[2,6]"), "\(e)")
        }
    }

    func testErrorsInsideARepeatBodyUseFullPaths() {
        struct Model: Layer {
            var stem = Linear(4, 4)
            var loop = Repeat(count: 3, Sequential([Linear(4, 4), Linear(5, 4)]))
            func callAsFunction(_ x: Tensor) -> Tensor { loop(stem(x)) }
        }
        XCTAssertThrowsError(try trace(Model(), input: .f32(2, 4), name: "m")) { e in
            XCTAssertTrue("\(e)".hasPrefix("loop.body.layers.1 (Linear): linear: "), "\(e)")
            XCTAssertTrue("\(e)".contains("f32[2,4]") && "\(e)".contains("f32[5,4]"), "\(e)")
        }
    }

    func testRepeatBodyThatChangesTheTypeIsAnError() {
        XCTAssertThrowsError(try trace(Repeat(count: 2, Linear(4, 3)), input: .f32(2, 4), name: "m")) { e in
            XCTAssertTrue("\(e)".contains("repeat"), "\(e)")
        }
    }

    func testOnlyTheFirstErrorIsReported() {
        struct TwoErrors: Layer {
            var a = Linear(3, 3)
            var b = Linear(7, 3)
            func callAsFunction(_ x: Tensor) -> Tensor { b(a(x)) + b(x) }
        }
        XCTAssertThrowsError(try trace(TwoErrors(), input: .f32(1, 5), name: "m")) { e in
            XCTAssertTrue("\(e)".hasPrefix("a (Linear): "), "\(e)")
        }
    }

    func testReusingALayerSharesItsWeights() throws {
        let t = try trace(Shared(), input: .f32(2, 8), name: "shared")
        XCTAssertEqual(t.function.params.count, 2)
        XCTAssertEqual(t.function.nodes.filter { $0.op == .linear }.count, 2)
        let w = t.function.params[0]
        XCTAssertEqual(t.function.nodes.filter { $0.op == .linear && $0.inputs[1] == w }.count, 2)
    }

    func testRepeatTracesTheBodyOnceAndCapturesNestedParameters() throws {
        struct Model: Layer {
            var stem = Linear(4, 4)
            var loop = Repeat(count: 6, Sequential([Linear(4, 4), ReLU(), Linear(4, 4)]))
            func callAsFunction(_ x: Tensor) -> Tensor { loop(stem(x)) }
        }
        let f = try trace(Model(), input: .f32(2, 4), name: "m").function
        XCTAssertEqual(f.params.map(f.name(of:)), ["stem.weight", "stem.bias", "loop.body.layers.0.weight",
                                                    "loop.body.layers.0.bias", "loop.body.layers.2.weight", "loop.body.layers.2.bias"])
        XCTAssertEqual(f.nodes.map(\.op), [.linear, .repeat])
        let rep = try XCTUnwrap(f.nodes.first { $0.op == .repeat })
        XCTAssertEqual(rep.inputs.count, 5, "carried value + 4 captured parameters; stem's are not captured")
        XCTAssertEqual(rep.regions[0].nodes.map(\.op), [.linear, .relu, .linear])
    }

    func testScalarArithmeticAndBroadcastErrors() throws {
        struct Bad: Layer {
            var bias = Parameter([5], .constant(0))
            func callAsFunction(_ x: Tensor) -> Tensor { (x * 2 + 1) + bias }
        }
        XCTAssertThrowsError(try trace(Bad(), input: .f32(3, 4), name: "bad")) { e in
            XCTAssertTrue("\(e)".hasPrefix("<root> (Bad): add"), "\(e)")
            XCTAssertTrue("\(e)".contains("f32[3,4]") && "\(e)".contains("f32[5]"), "\(e)")
        }
    }

    func testAParameterNotStoredInTheLayerIsAnError() {
        struct Hidden: Layer {
            func callAsFunction(_ x: Tensor) -> Tensor { x + Parameter([4], .ones) }
        }
        XCTAssertThrowsError(try trace(Hidden(), input: .f32(2, 4), name: "h")) { e in
            XCTAssertTrue("\(e)".contains("not stored in the traced layer"), "\(e)")
        }
    }

    func testParameterInitialization() throws {
        let a = try trace(Linear(4, 3), input: .f32(2, 4), name: "l", seed: 5).parameters
        let b = try trace(Linear(4, 3), input: .f32(2, 4), name: "l", seed: 5).parameters
        XCTAssertEqual(a.map(\.name), ["weight", "bias"])
        XCTAssertEqual(a.map(\.tensor), b.map(\.tensor))
        XCTAssertTrue(a[0].tensor.floats.allSatisfy { abs($0) <= 0.5 }, "U(±1/sqrt(fan_in))")
        XCTAssertGreaterThan(Set(a[0].tensor.floats).count, 10)
        let c = try trace(Linear(4, 3), input: .f32(2, 4), name: "l", seed: 6).parameters
        XCTAssertNotEqual(a[0].tensor, c[0].tensor)

        struct Inits: Layer {
            var ones = Parameter([3], .ones)
            var zeros = Parameter([3], .zeros)
            var c = Parameter([2], .constant(0.1))
            var v = Parameter([2], .values([1, 2]))
            func callAsFunction(_ x: Tensor) -> Tensor { x * ones + zeros }
        }
        let p = try trace(Inits(), input: .f32(3), name: "i").parameters
        XCTAssertEqual(p.map(\.tensor.floats), [[1, 1, 1], [0, 0, 0], [0.1, 0.1], [1, 2]])
        XCTAssertEqual(ParameterInit.fanIn(16), .uniform(0.25))
    }

    func testValuesInitializerWithTheWrongCountIsAnError() {
        struct Wrong: Layer {
            var w = Parameter([3], .values([1, 2]))
            func callAsFunction(_ x: Tensor) -> Tensor { x * w }
        }
        XCTAssertThrowsError(try trace(Wrong(), input: .f32(3), name: "w")) { e in
            XCTAssertTrue("\(e)".hasPrefix("w: .values initializer has 2 values"), "\(e)")
        }
    }

    /// The active tracer is task-local: traces on several threads at once do not interfere.
    func testConcurrentTracesAreIndependent() throws {
        let names = ["convnext-block", "tcn-block", "mobilenetv2-block", "resnet-basic-block"]
        let serial = try names.map { try Zoo.model(named: $0)!.trace(input: smallInput(Zoo.model(named: $0)!)).function }
        nonisolated(unsafe) var parallel = [Function?](repeating: nil, count: names.count)
        DispatchQueue.concurrentPerform(iterations: names.count * 3) { i in
            let m = Zoo.model(named: names[i % names.count])!
            let f = try? m.trace(input: smallInput(m)).function
            if i < names.count { parallel[i] = f }  // each slot written by one iteration only
        }
        XCTAssertEqual(parallel.map { $0! }, serial)
    }
}
