import XCTest
@testable import KilnCodegen
import KilnIR

/// `prefetch` is a hint: it must print, compile and leave every value unchanged, even when
/// its index points past the buffer (kernels prefetch the next chunk, which may not exist).
final class PrefetchStatementTests: XCTestCase {
    let n = 300

    func program() -> KernelProgram {
        let buffers = [KernelBuffer(name: "out", elements: n, isInt: false, role: .output)]
        let t: KExpr = .ivar("t")
        let body: [KStmt] = [
            .loop("t", .int(n), parallel: true, [
                .prefetch(0, t + 512, write: false),
                .prefetch(0, t + 16, write: true),
                .store(0, t, .fop(.add, .load(0, t), .fop(.add, .toFloat(t), .float(1)))),
            ]),
        ]
        let kernel = KernelFunction(name: "prefetching", buffers: [0], parallelCount: n, body: body, scratch: [])
        return KernelProgram(name: "p", buffers: buffers, steps: [.kernel(kernel)], argumentBuffers: [], resultBuffers: [0])
    }

    func testPrints() {
        let text = program().description
        XCTAssertTrue(text.contains("prefetch %b0["), text)
        XCTAssertTrue(text.contains("prefetch for write %b0["), text)
    }

    func testLeavesValuesUnchanged() throws {
        let compiled = try CompiledProgram(program(), target: .host)
        let fn = compiled.functions["prefetching"]!
        var out = [Float](repeating: 0.5, count: n)
        out.withUnsafeMutableBufferPointer { op in
            var table: [UnsafeMutablePointer<Float>?] = [op.baseAddress]
            table.withUnsafeMutableBufferPointer { fn(0, Int64(n), $0.baseAddress!) }
        }
        for i in 0..<n { XCTAssertEqual(out[i], 0.5 + Float(i + 1), "element \(i)") }
        withExtendedLifetime(compiled) {}
    }
}
