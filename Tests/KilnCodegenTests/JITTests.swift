import XCTest
import CLLVM
@testable import KilnCodegen

final class JITTests: XCTestCase {
    /// f(x) = 2x + 1 as a JIT'd function.
    func testCompilesAndCallsAFunction() throws {
        let m = try Module(name: "t", target: .host)
        let f = m.function("twice_plus_one", returns: m.f32, [m.f32])
        m.position(at: m.block(f, "entry"))
        let x = LLVMGetParam(f, 0)!
        LLVMBuildRet(m.builder, LLVMBuildFAdd(m.builder, LLVMBuildFMul(m.builder, x, m.float(2), "")!, m.float(1), "")!)
        try m.verify()
        try m.optimize()
        let code = try JIT().add(m)
        typealias F = @convention(c) (Float) -> Float
        let fn = unsafeBitCast(try code.address(of: "twice_plus_one"), to: F.self)
        XCTAssertEqual(fn(3), 7)
        XCTAssertEqual(fn(-0.5), 0)
    }

    /// A call to a symbol that exists nowhere is a thrown error naming it, not a crash.
    func testUnresolvedSymbolIsAnError() throws {
        let m = try Module(name: "t", target: .host)
        let ext = m.function("kiln_no_such_symbol_anywhere", returns: m.void, [])
        let f = m.function("caller", returns: m.void, [])
        m.position(at: m.block(f, "entry"))
        _ = m.call((ext, LLVMGlobalGetValueType(ext)), [])
        LLVMBuildRetVoid(m.builder)
        try m.verify()
        let jit = try JIT()
        let code = try jit.add(m)
        XCTAssertThrowsError(try code.address(of: "caller")) { e in
            XCTAssertTrue("\(e)".contains("kiln_no_such_symbol_anywhere"), "\(e)")
        }
        // The JIT still works for other modules afterwards.
        let m2 = try Module(name: "t2", target: .host)
        let g = m2.function("answer", returns: m2.i64, [])
        m2.position(at: m2.block(g, "entry"))
        LLVMBuildRet(m2.builder, m2.int(42))
        let code2 = try jit.add(m2)
        typealias G = @convention(c) () -> Int64
        XCTAssertEqual(unsafeBitCast(try code2.address(of: "answer"), to: G.self)(), 42)
    }

    func testInvalidIRIsAnError() throws {
        let m = try Module(name: "t", target: .host)
        let f = m.function("broken", returns: m.f32, [])
        m.position(at: m.block(f, "entry"))
        LLVMBuildRetVoid(m.builder)  // wrong return type
        XCTAssertThrowsError(try m.verify()) { XCTAssertTrue("\($0)".contains("invalid LLVM IR"), "\($0)") }
    }

    func testHostTargetDescribesThisMachine() {
        let host = HostTarget.host
        XCTAssertFalse(host.cpu.isEmpty)
        XCTAssertTrue(host.triple.hasPrefix("x86_64"))
        let expected = host.features.contains("+avx512f") ? 16 : 8
        XCTAssertEqual(host.vectorWidth, expected)
        XCTAssertEqual(HostTarget.avx2.vectorWidth, 8)
    }
}
