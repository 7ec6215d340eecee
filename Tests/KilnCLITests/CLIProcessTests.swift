import Foundation
import XCTest
import Kiln

/// Runs the built `kiln` binary end to end: exit codes, stdout and stderr.
final class CLIProcessTests: XCTestCase {
    /// The `kiln` executable next to the test bundle (SwiftPM builds every product with --build-tests).
    static var kilnPath: String {
        var dirs = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        dirs.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for d in dirs {
            let p = d.appendingPathComponent("kiln").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return dirs[0].appendingPathComponent("kiln").path
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    func kiln(_ args: [String]) throws -> Result { try Self.run(args) }

    /// Runs the built `kiln` with `args` and collects its exit status and output.
    static func run(_ args: [String]) throws -> Result {
        let path = kilnPath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            XCTFail("kiln binary not found at \(path); build it with `swift build` first")
            return Result(status: -1, stdout: "", stderr: "")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func tempFile(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-cli-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testModelsListsTheZoo() throws {
        let r = try kiln(["models"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["convnext-block", "gla-block", "recursive-ffn", "tcn-block"] {
            XCTAssertTrue(r.stdout.contains(name), r.stdout)
        }
    }

    func testTraceThenRunFromText() throws {
        let kir = try tempFile("ffn.kir", "")
        let params = kir.replacingOccurrences(of: ".kir", with: ".safetensors")
        let t = try kiln(["trace", "ffn-block", "--shape", "1x4x512", "-o", kir, "--params-out", params])
        XCTAssertEqual(t.status, 0, t.stderr)
        let a = try kiln(["run", "ffn-block", "--shape", "1x4x512"])
        let b = try kiln(["run", kir, "--params", params])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(a.stdout.hasPrefix("result 0: f32[1,4,512]"), a.stdout)
        XCTAssertEqual(a.stdout, b.stdout)
        XCTAssertTrue(b.stderr.contains("input 'x' not given"), b.stderr)
    }

    func testMalformedIRReportsFileLineColumn() throws {
        let path = try tempFile("bad.kir", "func @f(%x: f32[4]) -> (f32[4]) {\n  %0 = frobnicate %x : f32[4]\n  return %0\n}\n")
        let r = try kiln(["run", path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(path):2:"), r.stderr)
        XCTAssertTrue(r.stderr.contains("frobnicate"), r.stderr)
    }

    func testWrongInputShapeIsAnError() throws {
        let r = try kiln(["run", "ffn-block", "--shape", "0x4x512"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("error:"), r.stderr)
        let s = try kiln(["run", "no-such-model"])
        XCTAssertNotEqual(s.status, 0)
        XCTAssertTrue(s.stderr.contains("convnext-block"), s.stderr)
    }

    /// Absurd shapes and malformed arguments are errors with a message, never a crash.
    func testAbsurdShapesAndBadArgumentsAreErrors() throws {
        let huge = try kiln(["run", "ffn-block", "--shape", "1000x100000x512"])
        XCTAssertEqual(huge.status, 1, huge.stderr)
        // The largest value is the 4x hidden layer, f32[1000,100000,2048]: 819.2 GB.
        XCTAssertTrue(huge.stderr.contains("819200000000 bytes (819.2 GB)") && huge.stderr.contains("available"), huge.stderr)
        let cap = try kiln(["run", "ffn-block", "--shape", "100000x100000x512"])
        XCTAssertEqual(cap.status, 1, cap.stderr)
        XCTAssertTrue(cap.stderr.contains("more than 2^40 elements"), cap.stderr)
        let x = try tempFile("x.npy", "")
        try NPY.write(HostTensor(zeros: .f32(1, 2, 512)), to: x)
        for (args, words) in [(["--input", "=\(x)"], "name before '=' is empty"), (["--input", "x="], "file after '=' is empty"),
                              (["--input", "x=\(x)", "--input", "x=\(x)"], "given twice")] {
            let r = try kiln(["run", "ffn-block", "--shape", "1x2x512"] + args)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(words), "\(args): \(r.stderr)")
        }
    }

    func testGradWritesLossAndEveryParameterGradient() throws {
        let out = try tempFile("g.safetensors", "")
        let r = try kiln(["grad", "ffn-block", "--shape", "1x4x512", "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let names = try SafeTensors.read(out).map(\.name)
        XCTAssertEqual(names, ["loss", "norm.weight", "norm.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        let gla = try kiln(["grad", "gla-block", "--shape", "1x8x512"])
        XCTAssertEqual(gla.status, 0, gla.stderr)
        let bad = try kiln(["grad", "ffn-block", "--shape", "1x0x512"])
        XCTAssertNotEqual(bad.status, 0)
    }

    /// `kiln run --pass-option` reaches the passes: a bad value is the pass's own error.
    func testRunPassesPassOptions() throws {
        let off = try kiln(["run", "gla-block", "--shape", "1x64x512", "--grad", "--pass-option", "share-linear-attention-states=off"])
        XCTAssertEqual(off.status, 0, off.stderr)
        let bad = try kiln(["run", "gla-block", "--shape", "1x64x512", "--pass-option", "share-linear-attention-states=maybe"])
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("share-linear-attention-states=maybe: choose on or off"), bad.stderr)
        let both = try kiln(["run", "gla-block", "--shape", "1x64x512", "--no-passes", "--pass-option", "fuse-residual-blocks=off"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("does not apply with --no-passes"), both.stderr)
    }

    /// `kiln run --ab-env` compiles a second build and times both; with a variable no codegen
    /// reads, the two builds are the same code and must give identical results.
    func testRunABEnvironmentExperiment() throws {
        let r = try kiln(["run", "ffn-block", "--shape", "1x16x512", "--threads", "1", "--repeat", "4", "--ab-env", "KILN_AB_TEST_UNUSED=1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("A/B KILN_AB_TEST_UNUSED=1 over 4 alternating rounds"), r.stderr)
        XCTAssertTrue(r.stderr.contains("B (KILN_AB_TEST_UNUSED=1)  median"), r.stderr)
        XCTAssertTrue(r.stderr.contains("results differ by at most 0\n") || r.stderr.hasSuffix("results differ by at most 0"), r.stderr)
        let malformed = try kiln(["run", "ffn-block", "--shape", "1x16x512", "--ab-env", "=1"])
        XCTAssertNotEqual(malformed.status, 0)
        XCTAssertTrue(malformed.stderr.contains("expected KEY=VALUE"), malformed.stderr)
        let interpreted = try kiln(["run", "ffn-block", "--shape", "1x16x512", "--interpret", "--ab-env", "X=1"])
        XCTAssertNotEqual(interpreted.status, 0)
        XCTAssertTrue(interpreted.stderr.contains("does not apply to --interpret"), interpreted.stderr)
    }

    func testDumpPrintsParseableIR() throws {
        let r = try kiln(["dump", "resnet-basic-block", "--shape", "1x8x8x64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let path = try tempFile("dumped.kir", r.stdout)
        let again = try kiln(["dump", path])
        XCTAssertEqual(again.status, 0, again.stderr)
        let body = { (s: String) in s.split(separator: "\n").filter { !$0.hasPrefix("//") }.joined(separator: "\n") }
        XCTAssertEqual(body(again.stdout), body(r.stdout))
        let dot = try kiln(["dump", "resnet-basic-block", "--dot"])
        XCTAssertTrue(dot.stdout.contains("digraph"), dot.stdout)
    }

    /// `--emit kernels` shows what `kiln run` compiles (the fused block's one kernel);
    /// `--no-passes` the graph as traced, one kernel per op; LLVM IR carries no `//` notes.
    func testDumpEmitsTheKernelsRunCompiles() throws {
        let fused = try kiln(["dump", "convnext-block", "--shape", "1x8x8x96", "--emit", "kernels"])
        XCTAssertEqual(fused.status, 0, fused.stderr)
        XCTAssertTrue(fused.stdout.contains("convnext-block: 1 kernel,"), fused.stdout)
        XCTAssertTrue(fused.stdout.contains("_fused_rows("), fused.stdout)
        let traced = try kiln(["dump", "convnext-block", "--shape", "1x8x8x96", "--emit", "kernels", "--no-passes"])
        XCTAssertEqual(traced.status, 0, traced.stderr)
        XCTAssertFalse(traced.stdout.contains("_fused_rows("), traced.stdout)
        XCTAssertTrue(traced.stdout.contains("_layer_norm("), traced.stdout)
        let llvm = try kiln(["dump", "convnext-block", "--shape", "1x8x8x96", "--emit", "llvm"])
        XCTAssertEqual(llvm.status, 0, llvm.stderr)
        XCTAssertFalse(llvm.stdout.contains("//"), String(llvm.stdout.prefix(300)))
        XCTAssertTrue(llvm.stderr.contains("fuse-residual-blocks"), llvm.stderr)
        let misuse = try kiln(["dump", "convnext-block", "--no-passes"])
        XCTAssertNotEqual(misuse.status, 0)
        XCTAssertTrue(misuse.stderr.contains("--no-passes applies to --emit kernels"), misuse.stderr)
    }
}
