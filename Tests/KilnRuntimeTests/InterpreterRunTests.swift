import XCTest
import KilnIR
@testable import KilnRuntime

/// Regions, precision modes and binding errors.
final class InterpreterRunTests: XCTestCase {
    func repeatFunction(count: Int) throws -> Function {
        let body = FunctionBuilder(name: "body")
        let h = try body.addInput("h", .f32(2, 3)), w = try body.addInput("w", .f32(3, 3))
        let bodyFn = body.finish(results: [try body.add1(.tanh, [try body.add1(.matmul, [h, w])])])
        let b = FunctionBuilder(name: "rep")
        let x = try b.addInput("x", .f32(2, 3)), w2 = try b.addParam("w", .f32(3, 3))
        return b.finish(results: [try b.add1(.repeat, [x, w2], attributes: ["count": .int(count)], regions: [bodyFn])])
    }

    func testRepeatEqualsManualApplications() throws {
        let f = try repeatFunction(count: 3)
        let x = randoms(6, seed: 1), w = randoms(9, seed: 2)
        let out = try Interpreter(precision: .f64).run(f, inputs: ["x": HostTensor(shape: [2, 3], doubles: x), "w": HostTensor(shape: [3, 3], doubles: w)])
        var h = x
        for _ in 0..<3 {
            var next = [Double](repeating: 0, count: 6)
            for i in 0..<6 {
                var acc = 0.0
                for p in 0..<3 { acc += h[(i / 3) * 3 + p] * w[p * 3 + i % 3] }
                next[i] = tanh(acc)
            }
            h = next
        }
        assertClose(out[0].doubles, h, tol: 1e-12)
    }

    func testFusedEqualsItsBody() throws {
        let body = FunctionBuilder(name: "body")
        let a = try body.addInput("a", .f32(4))
        let fb = body.finish(results: [try body.add1(.relu, [a]), try body.add1(.exp, [a])])
        let b = FunctionBuilder(name: "f")
        let x = try b.addInput("x", .f32(4))
        let f = b.finish(results: try b.add(.fused, [x], attributes: ["tile": .ints([4])], regions: [fb]))
        let out = try Interpreter(precision: .f64).run(f, inputs: ["x": HostTensor(shape: [4], doubles: [-1, 0, 1, 2])])
        assertClose(out[0].doubles, [0, 0, 1, 2])
        assertClose(out[1].doubles, [-1, 0, 1, 2].map(exp))
    }

    func testF32AndF64Agree() throws {
        let f = try repeatFunction(count: 2)
        let x = HostTensor(shape: [2, 3], floats: randoms(6, seed: 3).map(Float.init))
        let w = HostTensor(shape: [3, 3], floats: randoms(9, seed: 4).map(Float.init))
        let a = try Interpreter(precision: .f32).run(f, inputs: ["x": x, "w": w])[0]
        let b = try Interpreter(precision: .f64).run(f, inputs: ["x": x, "w": w])[0]
        guard case .f32 = a.data, case .f64 = b.data else { return XCTFail("result storage must follow the precision") }
        assertClose(a.doubles, b.doubles, tol: 1e-6)
    }

    func testBindingErrorsNameTheTensor() throws {
        let f = try repeatFunction(count: 1)
        let x = HostTensor(zeros: .f32(2, 3)), w = HostTensor(zeros: .f32(3, 3))
        let cases: [([String: HostTensor], [String])] = [
            (["x": x], ["missing parameter 'w'", "f32[3,3]"]),
            (["x": HostTensor(zeros: .f32(2, 4)), "w": w], ["input 'x'", "expected f32[2,3]", "got f32[2,4]"]),
            (["x": HostTensor(zeros: .i32(2, 3)), "w": w], ["input 'x'", "i32[2,3]"]),
            (["x": x, "w": w, "bias": w], ["'bias'", "expected: x, w"]),
        ]
        for (inputs, words) in cases {
            XCTAssertThrowsError(try Interpreter().run(f, inputs: inputs)) { e in
                for word in words { XCTAssertTrue("\(e)".contains(word), "\(e) lacks \(word)") }
            }
        }
    }
}
