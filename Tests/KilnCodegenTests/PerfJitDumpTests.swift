import Foundation
import XCTest
@testable import KilnCodegen
import KilnIR

/// `KILN_PERF_JITDUMP=1` registers LLVM's perf jitdump listener: compiled kernels must appear,
/// by name, in a jit-PID.dump file under `JITDUMPDIR` (what `perf inject --jit` reads).
final class PerfJitDumpTests: XCTestCase {
    func testKernelNamesReachTheJitDump() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-jitdump-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        setenv("JITDUMPDIR", dir.path, 1)
        setenv("KILN_PERF_JITDUMP", "1", 1)
        defer { unsetenv("KILN_PERF_JITDUMP"); unsetenv("JITDUMPDIR") }

        let buffers = [KernelBuffer(name: "out", elements: 8, isInt: false, role: .output)]
        let body: [KStmt] = [.loop("t", .int(8), parallel: true, [.store(0, .ivar("t"), .toFloat(.ivar("t")))])]
        let kernel = KernelFunction(name: "kiln_jitdump_probe", buffers: [0], parallelCount: 8, body: body, scratch: [])
        let program = KernelProgram(name: "p", buffers: buffers, steps: [.kernel(kernel)], argumentBuffers: [], resultBuffers: [0])
        let compiled = try CompiledProgram(program, target: .host, jit: try JIT(target: .host))
        withExtendedLifetime(compiled) {}

        let name = "jit-\(getpid()).dump"
        let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        let dump = try XCTUnwrap(files.first { $0.lastPathComponent == name }, "no \(name) under \(dir.path): \(files)")
        let bytes = try Data(contentsOf: dump)
        XCTAssertNotNil(bytes.range(of: Data("kiln_jitdump_probe".utf8)), "the kernel's name is not in the jitdump")
    }
}
