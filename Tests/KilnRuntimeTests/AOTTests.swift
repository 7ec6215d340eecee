import Foundation
import XCTest
import KilnIR
import KilnFrontend
import KilnCodegen
@testable import KilnRuntime

/// `kiln compile` output used from C: a program built with the system C compiler calls the
/// entry point; its results must equal the JIT executable's, and bad calls return error codes.
final class AOTTests: XCTestCase {
    /// The value both sides put in element i of argument a (a formula, not shared code).
    static func value(_ a: Int, _ i: Int) -> Float { Float((i * 7919 + a * 104729) % 2000) / 2000 - 0.5 }

    func run(_ cmd: String, _ args: [String], cwd: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [cmd] + args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func checkModel(_ name: String, input: TensorType) throws {
        let f = try Zoo.model(named: name)!.trace(input: input).function
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-aot-\(getpid())-\(name)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let aot = try AOTCompiler(f)
        try aot.write(to: dir + "/libmodel.so")
        try aot.header().write(toFile: dir + "/model.h", atomically: true, encoding: .utf8)
        let sizes = f.arguments.map { f.type(of: $0).elementCount }, outSize = f.type(of: f.results[0]).elementCount
        let main = """
        #include <stdio.h>
        #include <stdlib.h>
        #include "model.h"
        int main(void) {
            enum { N = \(sizes.count) };
            int64_t sizes[N] = {\(sizes.map(String.init).joined(separator: ", "))};
            const void* args[N];
            for (int a = 0; a < N; a++) {
                float* p = malloc(sizes[a] * sizeof(float));
                for (int64_t i = 0; i < sizes[a]; i++) p[i] = (float)((i * 7919 + a * 104729) % 2000) / 2000.0f - 0.5f;
                args[a] = p;
            }
            int64_t out_size = \(outSize);
            float* out = malloc(out_size * sizeof(float));
            float* results[1] = {out};
            int64_t bad_size = out_size + 1;
            printf("wrong-count %d\\n", \(aot.symbol)(N - 1, args, sizes, 1, results, &out_size));
            printf("null %d\\n", \(aot.symbol)(N, args, sizes, 1, NULL, &out_size));
            printf("wrong-result-size %d\\n", \(aot.symbol)(N, args, sizes, 1, results, &bad_size));
            sizes[0] += 1;
            printf("wrong-arg-size %d\\n", \(aot.symbol)(N, args, sizes, 1, results, &out_size));
            sizes[0] -= 1;
            printf("status %d\\n", \(aot.symbol)(N, args, sizes, 1, results, &out_size));
            for (int64_t i = 0; i < out_size; i++) printf("%a\\n", out[i]);
            for (int a = 0; a < N; a++) free((void*)args[a]);
            free(out);
            return 0;
        }
        """
        try main.write(toFile: dir + "/main.c", atomically: true, encoding: .utf8)
        // `make test-asan` sets KILN_TEST_CFLAGS=-fsanitize=address, so the C program and the
        // AOT library's arena malloc/free run under ASan and LeakSanitizer too.
        let extra = (ProcessInfo.processInfo.environment["KILN_TEST_CFLAGS"] ?? "").split(separator: " ").map(String.init)
        let (cc, ccOut) = try run("cc", ["-O1"] + extra + ["main.c", "libmodel.so", "-o", "main", "-Wl,-rpath,\(dir)"], cwd: dir)
        XCTAssertEqual(cc, 0, ccOut)
        let (status, out) = try run("./main", [], cwd: dir)
        XCTAssertEqual(status, 0, out)
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(Array(lines.prefix(5)), ["wrong-count 1", "null 2", "wrong-result-size 4", "wrong-arg-size 3", "status 0"])
        let cValues = lines.dropFirst(5).compactMap { Float($0) }
        XCTAssertEqual(cValues.count, outSize)
        var inputs: [String: HostTensor] = [:]
        for (a, arg) in f.arguments.enumerated() {
            let t = f.type(of: arg)
            inputs[f.name(of: arg)] = HostTensor(shape: t.shape, floats: (0..<t.elementCount).map { Self.value(a, $0) })
        }
        let jit = try Executable(f, kind: .compiled, threads: 1).run(inputs)[0].floats
        let worst = zip(cValues, jit).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(name): AOT vs JIT")
    }

    func testFFNBlockFromC() throws { try checkModel("ffn-block", input: .f32(1, 5, 512)) }
    /// 300 tokens: both GEMMs pass `tiledGemmMinimumMACs`, so the object file runs them as
    /// B-packing and tile-matmul kernels (`TiledGemms`) instead of plain loops.
    func testFFNBlockWithTiledGemmsFromC() throws { try checkModel("ffn-block", input: .f32(1, 300, 512)) }
    func testRecursiveFFNWithRepeatFromC() throws { try checkModel("recursive-ffn", input: .f32(1, 3, 512)) }
    func testConvNeXtFromC() throws { try checkModel("convnext-block", input: .f32(1, 6, 5, 96)) }
}
