import XCTest
@testable import KilnCodegen
import KilnIR

/// `transpose` must equal the element-by-element copy it replaces, for full register blocks,
/// ragged edges on both sides, leading dimensions wider than the tile, offsets, sizes known
/// only at run time, and both vector widths (16 with AVX-512 where the host has it, 8 on AVX2).
final class TransposeStatementTests: XCTestCase {
    /// src (rows x cols inside ld srcLd at offset 3) into dst (cols x rows inside ld dstLd at
    /// offset 5). The sizes are read from an int buffer, so the emitter cannot assume them.
    func run(rows: Int, cols: Int, target: HostTarget) throws {
        let (srcLd, dstLd) = (cols + 7, rows + 3)
        let srcCount = 3 + rows * srcLd + 1, dstCount = 5 + cols * dstLd + 1
        let buffers = [
            KernelBuffer(name: "src", elements: srcCount, isInt: false, role: .output),
            KernelBuffer(name: "dst", elements: dstCount, isInt: false, role: .output),
            KernelBuffer(name: "sizes", elements: 2, isInt: true, role: .output),
        ]
        let t = TileTranspose(rows: .ivar("rows"), cols: .ivar("cols"), src: 0, srcOffset: 3, srcLd: .int(srcLd),
                              dst: 1, dstOffset: 5, dstLd: .int(dstLd))
        let body: [KStmt] = [.letInt("rows", .loadInt(2, 0)), .letInt("cols", .loadInt(2, 1)), .transpose(t)]
        let kernel = KernelFunction(name: "transposing", buffers: [0, 1, 2], parallelCount: 1, body: body, scratch: [])
        let program = KernelProgram(name: "p", buffers: buffers, steps: [.kernel(kernel)], argumentBuffers: [], resultBuffers: [1])
        XCTAssertTrue(program.description.contains("transpose %b1[5; ld \(dstLd)] = %b0[3; ld \(srcLd)] {rows = %rows, cols = %cols}"),
                      program.description)
        let compiled = try CompiledProgram(program, target: target)
        let fn = compiled.functions["transposing"]!
        var src = (0..<srcCount).map { Float($0) * 0.5 + 1 }
        var dst = [Float](repeating: -1, count: dstCount)
        var sizes: [Int32] = [Int32(rows), Int32(cols)]
        src.withUnsafeMutableBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                sizes.withUnsafeMutableBytes { z in
                    var table: [UnsafeMutablePointer<Float>?] = [s.baseAddress, d.baseAddress, z.baseAddress!.assumingMemoryBound(to: Float.self)]
                    table.withUnsafeMutableBufferPointer { fn(0, 1, $0.baseAddress!) }
                }
            }
        }
        withExtendedLifetime(compiled) {}
        var expected = [Float](repeating: -1, count: dstCount)
        for r in 0..<rows { for c in 0..<cols { expected[5 + c * dstLd + r] = src[3 + r * srcLd + c] } }
        for i in 0..<dstCount where dst[i] != expected[i] {
            XCTFail("\(rows)x\(cols) on \(target.vectorWidth)-wide: dst[\(i)] = \(dst[i]), expected \(expected[i])")
            return
        }
    }

    func testMatchesElementwiseCopyOnHost() throws {
        for (rows, cols) in [(16, 16), (32, 128), (33, 130), (7, 40), (40, 7), (1, 1), (0, 5), (17, 16), (128, 32)] {
            try run(rows: rows, cols: cols, target: .host)
        }
    }

    func testMatchesElementwiseCopyEightWide() throws {
        for (rows, cols) in [(8, 8), (32, 128), (13, 21), (9, 8)] {
            try run(rows: rows, cols: cols, target: .avx2)
        }
    }
}
