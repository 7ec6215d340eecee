import XCTest
@testable import KilnCodegen
import KilnIR

/// The top-level parallel loop's two modes: a static range `begin..<end`, and (with
/// `begin < 0`) tiles taken from the shared counter in the table's slot after the buffers,
/// by several threads at once, in runs of several tiles. Every tile must run exactly once, and no other.
final class ParallelTileCounterTests: XCTestCase {
    let tiles = 1000

    /// `out[t] += t + 1` per tile: a tile run twice or never shows in the sum.
    func compiled() throws -> CompiledProgram {
        let buffers = [KernelBuffer(name: "out", elements: tiles, isInt: false, role: .output)]
        let body: [KStmt] = [
            .loop("t", .int(tiles), parallel: true, [
                .store(0, .ivar("t"), .fop(.add, .load(0, .ivar("t")), .fop(.add, .toFloat(.ivar("t")), .float(1)))),
            ]),
        ]
        let kernel = KernelFunction(name: "tiles", buffers: [0], parallelCount: tiles, body: body, scratch: [])
        let program = KernelProgram(name: "t", buffers: buffers, steps: [.kernel(kernel)], argumentBuffers: [], resultBuffers: [0])
        return try CompiledProgram(program, target: .host)
    }

    func testStaticRangeRunsOnlyItsTiles() throws {
        let program = try compiled()  // keeps the JIT (and so the code) alive
        let fn = program.functions["tiles"]!
        var out = [Float](repeating: 0, count: tiles)
        out.withUnsafeMutableBufferPointer { op in
            var table: [UnsafeMutablePointer<Float>?] = [op.baseAddress]
            table.withUnsafeMutableBufferPointer { fn(100, 250, $0.baseAddress!) }
        }
        for t in 0..<tiles { XCTAssertEqual(out[t], (100..<250).contains(t) ? Float(t + 1) : 0, "tile \(t)") }
        withExtendedLifetime(program) {}
    }

    func testSharedCounterRunsEveryTileOnceAcrossThreads() throws {
        let program = try compiled()  // keeps the JIT (and so the code) alive
        let fn = program.functions["tiles"]!
        var out = [Float](repeating: 0, count: tiles)
        let counter = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        defer { counter.deallocate() }
        counter.pointee = 0
        out.withUnsafeMutableBufferPointer { op in
            var table: [UnsafeMutablePointer<Float>?] = [op.baseAddress, UnsafeMutableRawPointer(counter).assumingMemoryBound(to: Float.self)]
            table.withUnsafeMutableBufferPointer { tp in
                let base = UInt(bitPattern: tp.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: 4) { _ in
                    fn(-1, 1000, UnsafeMutablePointer(bitPattern: base)!)
                }
            }
        }
        for t in 0..<tiles { XCTAssertEqual(out[t], Float(t + 1), "tile \(t)") }
        // Grabs take runs of ⌈tiles / 64⌉ tiles; each of the 4 workers stops after one grab past the end.
        let grain = (tiles + 63) / 64
        XCTAssertEqual(counter.pointee, Int64(((tiles + grain - 1) / grain + 4) * grain))
        withExtendedLifetime(program) {}
    }
}
