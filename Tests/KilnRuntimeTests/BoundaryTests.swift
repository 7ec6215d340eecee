import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// Every public entry refuses bad bindings with a message naming the tensor, and absurd
/// shapes with a message naming the byte size, before anything is allocated.
final class BoundaryTests: XCTestCase {
    func chain(_ n: Int) throws -> Function {
        try parseFunction("""
        func @chain(%x: f32[\(n)], param %w: f32[\(n)]) -> (f32[\(n)]) {
          %0 = exp %x : f32[\(n)]
          %1 = add %x, %0 : f32[\(n)]
          %2 = mul %1, %0 : f32[\(n)]
          %3 = mul %2, %w : f32[\(n)]
          return %3
        }
        """, file: "chain.kir")
    }

    func assertThrows(_ what: String, containing words: [String], line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(what): no error", line: line)
        } catch {
            let text = "\(error)"
            for w in words { XCTAssertTrue(text.contains(w), "\(what): '\(w)' not in: \(text)", line: line) }
        }
    }

    func testEveryExecutorValidatesNamesShapesDtypesAndCounts() throws {
        let f = try chain(5)
        let good: [String: HostTensor] = ["x": HostTensor(shape: [5], floats: [1, 2, 3, 4, 5]), "w": HostTensor(shape: [5], floats: [1, 1, 1, 1, 1])]
        var short = good["x"]!
        short.shape = [6]  // fields are public: a tensor can claim more elements than it has
        let cases: [(String, [String: HostTensor], [String])] = [
            ("missing", ["x": good["x"]!], ["missing parameter 'w'", "f32[5]"]),
            ("unknown", good.merging(["y": good["x"]!]) { a, _ in a }, ["'y' is not an input"]),
            ("shape", ["x": HostTensor(shape: [1, 5], floats: [1, 2, 3, 4, 5]), "w": good["w"]!], ["input 'x'", "expected f32[5]", "f32[1,5]"]),
            ("dtype", ["x": HostTensor(shape: [5], ints: [1, 2, 3, 4, 5]), "w": good["w"]!], ["input 'x'", "expected f32[5]", "i32[5]"]),
            ("count", ["x": short, "w": good["w"]!], ["input 'x'"]),
        ]
        let runners: [(String, ([String: HostTensor]) throws -> [HostTensor])] = [
            ("interpreter", { try Interpreter().run(f, inputs: $0) }),
            ("compiled", { try Executable(f, kind: .compiled, threads: 2).run($0) }),
            ("unfused", { try Executable(f, kind: .unfused, threads: 1).run($0) }),
        ]
        for (runner, run) in runners {
            XCTAssertEqual(try run(good)[0].shape, [5], runner)
            for (what, inputs, words) in cases { assertThrows("\(runner) \(what)", containing: words) { _ = try run(inputs) } }
        }
    }

    /// 10^12 elements passes the 2^40-element cap but needs 4 TB: refused by size, everywhere.
    func testAbsurdShapeIsRefusedByByteSizeBeforeAllocating() throws {
        let f = try parseFunction("""
        func @huge(%x: f32[100000,100000,100]) -> (f32[100000,100000,100]) {
          %0 = exp %x : f32[100000,100000,100]
          return %0
        }
        """, file: "huge.kir")
        let words = ["4000000000000 bytes", "4.0 TB", "%x", "available"]
        assertThrows("compiled", containing: words) { _ = try Executable(f, kind: .compiled) }
        assertThrows("unfused", containing: words) { _ = try Executable(f, kind: .unfused) }
        assertThrows("interpreter", containing: words) { _ = try Interpreter().run(f, inputs: [:]) }
        // A splat constant would be materialized during lowering: refused before that too.
        let c = try parseFunction("""
        func @c() -> (f32[100000,100000,100]) {
          %0 = constant {dtype = f32, shape = [100000,100000,100], value = 1.0, values = []} : f32[100000,100000,100]
          return %0
        }
        """, file: "c.kir")
        assertThrows("constant", containing: ["4000000000000 bytes"]) { _ = try Executable(c) }
        // One more factor of 10 overflows the element cap: a located verifier error.
        assertThrows("element cap", containing: ["huge2.kir:1:", "more than 2^40 elements"]) {
            _ = try parseFunction("func @h(%x: f32[100000,100000,1000]) -> (f32[100000,100000,1000]) {\n  return %x\n}", file: "huge2.kir")
        }
    }

    /// Values that each fit but whose arena does not: the arena check names the plan's size.
    func testArenaLargerThanAvailableMemoryIsRefused() throws {
        let f = try chain(100_000)  // 400 KB per value; x, %0, %1 are live together
        XCTAssertNoThrow(try MemoryBudget.checkValues(of: f, available: 1_000_000))
        setenv("KILN_MEMORY_LIMIT", "1000000", 1)
        defer { unsetenv("KILN_MEMORY_LIMIT") }
        assertThrows("arena", containing: ["arena", "1000000 bytes"]) { _ = try Executable(f, kind: .compiled, threads: 1) }
        unsetenv("KILN_MEMORY_LIMIT")
        XCTAssertNoThrow(try Executable(f, kind: .compiled, threads: 1))
    }

    func testMemoryBudgetMessages() {
        XCTAssertEqual(MemoryBudget.describe(999), "999 bytes")
        XCTAssertEqual(MemoryBudget.describe(4_000_000_000_000), "4.0 TB")
        XCTAssertNoThrow(try MemoryBudget.check(10, for: "x", available: 10))
        XCTAssertThrowsError(try MemoryBudget.check(11, for: "the thing", available: 10)) {
            XCTAssertEqual("\($0)", "the thing needs 11 bytes (11 bytes), more than the 10 bytes (10 bytes) of memory available")
        }
        XCTAssertGreaterThan(MemoryBudget.availableBytes, 1 << 20)
    }
}
