import XCTest

/// `kiln run --grad --profile`: the training graph runs and every step is timed.
final class RunProfileTests: XCTestCase {
    func testGradProfilePrintsOneRowPerStepAndAnOpSummary() throws {
        let r = try CLIProcessTests.run(["run", "convnext-block", "--shape", "1x8x8x96", "--grad", "--profile", "--threads", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("--grad: loss = sum(y * y) / 2"), r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("profile: ") }), let byOp = lines.firstIndex(of: "by op:") else {
            return XCTFail(r.stdout)
        }
        let steps = Int(lines[header].split(separator: " ")[1])!
        XCTAssertEqual(byOp - header - 2, steps, "one row per step")
        XCTAssertTrue(lines[(header + 2)..<byOp].contains { $0.contains("fused_rows") }, "the fused forward block is a step")
        XCTAssertTrue(lines[(header + 2)..<byOp].contains { $0.contains("fused_reduce") }, "the fused backward's partial-sum reduction is a step")
        // The unfused executor's GEMM calls are steps too, with a rate.
        let u = try CLIProcessTests.run(["run", "convnext-block", "--shape", "1x8x8x96", "--grad", "--profile", "--unfused", "--threads", "1"])
        XCTAssertEqual(u.status, 0, u.stderr)
        XCTAssertTrue(u.stdout.split(separator: "\n").contains { $0.contains("gemm ") && !$0.hasSuffix("-") }, u.stdout)
        // Results: the loss, then one gradient per parameter (9 for the ConvNeXt block).
        XCTAssertEqual(lines.filter { $0.hasPrefix("result ") }.count, 10)
    }

    func testProfileRefusesTheInterpreter() throws {
        let r = try CLIProcessTests.run(["run", "convnext-block", "--profile", "--interpret"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--profile"), r.stderr)
    }
}
