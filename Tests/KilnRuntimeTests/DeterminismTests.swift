import Foundation
import XCTest
import Kiln
@testable import KilnRuntime

/// Same inputs give bitwise-identical outputs on every run for a given executor and thread
/// count; across thread counts results agree within `crossThreadTolerance`.
///
/// Why this holds: kernels split only their outermost parallel loop into contiguous ranges
/// fixed by (n, threads), and every reduction (sums, norms, softmax, GEMM K-loops,
/// weight-gradient accumulation over batch and time) runs inside one range in a fixed
/// order, so no floating-point sum depends on scheduling. A different thread count changes
/// only which GEMM row band a thread packs, which can move a row between the micro-kernel's
/// full and edge tiles and so change FMA association: hence a tolerance, not bit-equality.
final class DeterminismTests: XCTestCase {
    /// Relative tolerance, |a - b| / (1 + |b|), between thread counts (and between executors).
    static let crossThreadTolerance: Float = 1e-5

    /// Small versions of zoo models plus the gradient of one (weight gradients accumulate
    /// over batch and sequence, the classic source of nondeterminism).
    func models() throws -> [(String, Function, [String: HostTensor])] {
        var out: [(String, Function, [String: HostTensor])] = []
        for (name, shape) in [("ffn-block", [2, 9, 512]), ("gla-block", [1, 19, 512]), ("deltanet-layer", [1, 13, 512]),
                              ("convnext-block", [1, 5, 6, 96]), ("tcn-block", [2, 11, 128])] {
            let m = try ModelLoader.load(name, shape: shape)
            var inputs = seededInputs(m.function, seed: 11)
            for (k, v) in m.parameters { inputs[k] = v }
            out.append((name, m.function, inputs))
        }
        let ffn = try ModelLoader.load("ffn-block", shape: [2, 7, 512])
        let loss = try LossFunction.wrap(ffn.function).function
        let grad = try gradient(of: loss, wrt: loss.arguments.map { loss.name(of: $0) })
        var inputs = seededInputs(grad, seed: 5)
        for (k, v) in ffn.parameters { inputs[k] = v }
        out.append(("ffn-block gradient", grad, inputs))
        return out
    }

    func bits(_ ts: [HostTensor]) -> [[UInt32]] { ts.map { $0.floats.map(\.bitPattern) } }

    func testRepeatedRunsAreBitwiseIdentical() throws {
        for (name, f, inputs) in try models() {
            let reference = bits(try Interpreter().run(f, inputs: inputs))
            XCTAssertEqual(bits(try Interpreter().run(f, inputs: inputs)), reference, "\(name): interpreter")
            for kind in ExecutorKind.allCases {
                var perThreads: [Int: [HostTensor]] = [:]
                for threads in [1, 2] {
                    let exe = try Executable(f, kind: kind, threads: threads)
                    let first = try exe.run(inputs)
                    // The same executable again (its arena holds the last run's values) and a
                    // fresh one: a kernel that read stale arena data would differ here.
                    for attempt in 0..<2 {
                        XCTAssertEqual(bits(try exe.run(inputs)), bits(first), "\(name): \(kind) threads \(threads) rerun \(attempt)")
                    }
                    XCTAssertEqual(bits(try Executable(f, kind: kind, threads: threads).run(inputs)), bits(first),
                                   "\(name): \(kind) threads \(threads) fresh executable")
                    for t in first { XCTAssertTrue(t.floats.allSatisfy(\.isFinite), "\(name): \(kind) non-finite output") }
                    perThreads[threads] = first
                }
                let worst = maxRelativeDifference(perThreads[1]!, perThreads[2]!)
                XCTAssertLessThanOrEqual(worst, Self.crossThreadTolerance, "\(name): \(kind) threads 1 vs 2")
            }
        }
    }

    func maxRelativeDifference(_ a: [HostTensor], _ b: [HostTensor]) -> Float {
        var worst: Float = 0
        for (x, y) in zip(a, b) {
            guard x.shape == y.shape else { return .infinity }
            for (u, v) in zip(x.floats, y.floats) { worst = max(worst, abs(u - v) / (1 + abs(v))) }
        }
        return worst
    }
}
