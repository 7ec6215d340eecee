import XCTest
import KilnIR
import KilnCodegen
@testable import KilnRuntime

/// The reduction shapes that get their own loops (`Lower+Reduction.swift`) and the row sums
/// of LayerNorm, against the interpreter at 1 and 2 threads, with the kernels that prove
/// which path ran.
extension ExecutableTests {
    func kernelNames(_ f: Function) throws -> [String] {
        try Executable(f, kind: .compiled, threads: 1).program.allKernels.map(\.name)
    }

    /// Over trailing axes: lane partials plus a tail (40 = 2 x 16 + 8), a tail alone (7), and
    /// two axes at once.
    func testTrailingReductions() throws {
        for (op, shape, axes) in [(OpKind.reduce_sum, [5, 40], [1]), (.reduce_max, [3, 7, 33], [-1]), (.reduce_mean, [4, 3, 20], [1, 2]),
                                  (.reduce_sum, [6, 7], [1])] {
            try check(try single(op, [TensorType(.f32, shape)], ["axes": .ints(axes)]), "\(op) of \(shape) over \(axes)")
        }
    }

    /// Over every axis: chunks of 32768 in parallel (70000 = 2 full chunks and a ragged one),
    /// then their partials; a reduction within one chunk is one kernel.
    func testWholeReductions() throws {
        for (op, shape) in [(OpKind.reduce_sum, [70000]), (.reduce_mean, [300, 250]), (.reduce_max, [3, 5]), (.reduce_sum, [100, 300])] {
            let f = try single(op, [TensorType(.f32, shape)], ["axes": .ints(Array(0..<shape.count))])
            try check(f, "\(op) of all of \(shape)")
            let chunked = shape.reduce(1, *) > 32768
            XCTAssertEqual(try kernelNames(f).contains { $0.hasSuffix("_chunks") }, chunked, "\(op) of \(shape)")
        }
    }

    /// Over leading axes with too few column blocks for the threads: bands of rows (the last
    /// one ragged), then their partial rows in order. 24 columns is MobileNetV2's projection.
    func testLeadingReductionsInBands() throws {
        for (op, shape, axes) in [(OpKind.reduce_sum, [2000, 24], [0]), (.reduce_max, [3000, 100], [0]),
                                  (.reduce_mean, [1000, 3, 30], [0, 1])] {
            let f = try single(op, [TensorType(.f32, shape)], ["axes": .ints(axes)])
            try check(f, "\(op) of \(shape) over \(axes)")
            XCTAssertTrue(try kernelNames(f).contains { $0.hasSuffix("_bands") }, "\(op) of \(shape)")
        }
    }

    /// Softmax along the last axis (max and sum through lane partials): lanes and a tail, a
    /// tail alone; large logits must not overflow the sum.
    func testSoftmaxAlongTheLastAxis() throws {
        for len in [40, 5] {
            try check(try single(.softmax, [.f32(3, len)], ["axis": .int(-1)]), "softmax over \(len)")
            try check(try single(.log_softmax, [.f32(2, 3, len)], ["axis": .int(2)]), "log_softmax over \(len)")
        }
    }

    /// LayerNorm's row sums: lanes only (512), a tail only (8), both (17 is in
    /// `testNormalizationsReductionsLayout`).
    func testLayerNormRowWidths() throws {
        for c in [512, 8] {
            try check(try single(.layer_norm, [.f32(5, c), .f32(c), .f32(c)]), "layer_norm over \(c)")
            try check(try single(.rms_norm, [.f32(5, c), .f32(c)]), "rms_norm over \(c)")
        }
    }
}
