import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// Builds a one-op function over random inputs, runs it, and returns inputs and outputs.
struct OpCase {
    var inputs: [[Double]]
    var outputs: [[Double]]
    var outTypes: [TensorType]

    init(_ op: OpKind, _ types: [TensorType], _ attrs: Attributes = [:], seed: UInt64 = 1, range: Double = 1,
         positive: Bool = false, precision: Interpreter.Precision = .f64, values: [[Double]]? = nil) throws {
        let b = FunctionBuilder(name: "t")
        var bound: [String: HostTensor] = [:]
        var rng = SeededRandom(seed: seed)
        var ids: [ValueID] = []
        inputs = []
        for (i, t) in types.enumerated() {
            ids.append(try b.addInput("in\(i)", t))
            let vals = values?[i] ?? (0..<t.elementCount).map { _ in positive ? rng.uniform(0.1, range) : rng.uniform(-range, range) }
            inputs.append(vals)
            bound["in\(i)"] = t.dtype == .i32 ? HostTensor(shape: t.shape, ints: vals.map { Int32($0) })
                                              : HostTensor(shape: t.shape, doubles: vals)
        }
        let outs = try b.add(op, ids, attributes: attrs)
        let f = b.finish(results: outs)
        outTypes = outs.map(f.type(of:))
        outputs = try Interpreter(precision: precision).run(f, inputs: bound).map(\.doubles)
    }
}

/// Max |a - b| / (1 + |b|) over all elements, failing on a length mismatch.
func assertClose(_ a: [Double], _ b: [Double], tol: Double = 1e-9, _ msg: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "length \(msg)", file: file, line: line)
    var worst = 0.0
    for (x, y) in zip(a, b) {
        guard x.isFinite else { XCTFail("non-finite \(x) \(msg)", file: file, line: line); return }
        worst = max(worst, abs(x - y) / (1 + abs(y)))
    }
    XCTAssertLessThanOrEqual(worst, tol, msg, file: file, line: line)
}

func randoms(_ n: Int, seed: UInt64, _ lo: Double = -1, _ hi: Double = 1) -> [Double] {
    var r = SeededRandom(seed: seed)
    return (0..<n).map { _ in r.uniform(lo, hi) }
}
