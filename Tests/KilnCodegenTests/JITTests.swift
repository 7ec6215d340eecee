import XCTest
@testable import KilnCodegen

final class JITTests: XCTestCase {
    static let twice = """
    define float @twice_plus_one(float %x) {
      %d = fmul float %x, 2.0
      %r = fadd float %d, 1.0
      ret float %r
    }
    """

    func testCompilesAndCallsAFunction() throws {
        // Function pointers are valid while their CompiledCode lives.
        let code = try JIT().compile(ir: Self.twice)
        let f = try code.function("twice_plus_one", as: (@convention(c) (Float) -> Float).self)
        withExtendedLifetime(code) {
            XCTAssertEqual(f(3), 7)
            XCTAssertEqual(f(-0.5), 0)
        }
    }

    /// Calls into the process (libm's expf) resolve through the process symbol generator.
    func testProcessSymbolsResolve() throws {
        let ir = """
        declare float @expf(float)
        define float @call_exp(float %x) {
          %r = call float @expf(float %x)
          ret float %r
        }
        """
        let code = try JIT().compile(ir: ir)
        let f = try code.function("call_exp", as: (@convention(c) (Float) -> Float).self)
        withExtendedLifetime(code) { XCTAssertEqual(f(1), expf(1)) }
    }

    /// A call to a symbol that exists nowhere is a thrown Swift error naming it, not a crash,
    /// and the JIT keeps working for other modules (one resource tracker per module).
    func testUnresolvedSymbolIsAThrownError() throws {
        let jit = try JIT()
        let bad = try jit.compile(ir: """
        declare void @kiln_no_such_symbol_anywhere()
        define void @caller() {
          call void @kiln_no_such_symbol_anywhere()
          ret void
        }
        """, name: "bad")
        XCTAssertThrowsError(try bad.address(of: "caller")) { e in
            XCTAssertTrue(e is CodegenError)
            XCTAssertTrue("\(e)".contains("kiln_no_such_symbol_anywhere"), "\(e)")
        }
        let good = try jit.compile(ir: "define i64 @answer() {\n ret i64 42\n}", name: "good")
        let answer = try good.function("answer", as: (@convention(c) () -> Int64).self)
        withExtendedLifetime(good) { XCTAssertEqual(answer(), 42) }
    }

    /// Two live modules defining the same symbol: LLVM's error is thrown, nothing is freed twice.
    func testDuplicateDefinitionIsAThrownError() throws {
        let jit = try JIT()
        let first = try jit.compile(ir: Self.twice)
        XCTAssertThrowsError(try jit.compile(ir: Self.twice)) { e in
            XCTAssertTrue("\(e)".contains("Duplicate definition"), "\(e)")
        }
        let f = try first.function("twice_plus_one", as: (@convention(c) (Float) -> Float).self)
        withExtendedLifetime(first) { XCTAssertEqual(f(1), 3) }
    }

    func testMissingFunctionIsAThrownError() throws {
        let code = try JIT().compile(ir: Self.twice)
        XCTAssertThrowsError(try code.address(of: "nope")) { XCTAssertTrue("\($0)".contains("nope"), "\($0)") }
    }

    func testMalformedAndInvalidIRAreErrors() throws {
        XCTAssertThrowsError(try JIT().compile(ir: "define float @f( {")) { e in
            XCTAssertTrue("\(e)".contains("parsing LLVM IR"), "\(e)")
        }
        // Parses, but the verifier rejects it (an instruction that uses itself).
        let m = try Module(name: "t", target: .host)
        let f = m.function("broken", returns: m.f32, [])
        m.position(at: m.block(f, "entry"))
        _ = m.load(m.f32, m.gep(m.phi(m.pointer(m.f32)), m.int(0)))
        XCTAssertThrowsError(try m.verify()) { XCTAssertTrue("\($0)".contains("invalid LLVM IR"), "\($0)") }
    }

    /// Released code is removed from the JIT, and the same symbol can be defined again.
    func testRemovalAndRedefinition() throws {
        let jit = try JIT()
        do {
            let code = try jit.compile(ir: "define i64 @v() {\n ret i64 1\n}")
            let v = try code.function("v", as: (@convention(c) () -> Int64).self)
            withExtendedLifetime(code) { XCTAssertEqual(v(), 1) }
        }
        let code2 = try jit.compile(ir: "define i64 @v() {\n ret i64 2\n}")
        let v2 = try code2.function("v", as: (@convention(c) () -> Int64).self)
        withExtendedLifetime(code2) { XCTAssertEqual(v2(), 2) }
    }

    func testHostTargetDescribesThisMachine() {
        let host = HostTarget.host
        XCTAssertFalse(host.cpu.isEmpty)
        XCTAssertTrue(host.triple.hasPrefix("x86_64"), host.triple)
        XCTAssertEqual(host.vectorWidth, host.has("avx512f") ? 16 : (host.has("avx2") ? 8 : 4))
        XCTAssertEqual(HostTarget.avx2.vectorWidth, 8)
        XCTAssertFalse(HostTarget.avx2.has("avx512f"))
        XCTAssertEqual(HostTarget(cpu: "x86-64", features: "+sse2").vectorWidth, 4)
    }

    func testCompileCacheKeysOnIRTargetAndOptions() throws {
        let cache = CompileCache(jit: try JIT())
        let a = try cache.compile(ir: Self.twice)
        let b = try cache.compile(ir: Self.twice)
        XCTAssertTrue(a === b)
        // Same IR at another level is another entry (renamed: names are unique per JIT).
        let o0 = Self.twice.replacingOccurrences(of: "@twice_plus_one", with: "@twice_plus_one_o0")
        _ = try cache.compile(ir: o0, options: CompileOptions(optLevel: 0))
        XCTAssertEqual(cache.count, 2)
        XCTAssertEqual(cache.hits, 1)
        XCTAssertEqual(cache.misses, 2)
        XCTAssertNotEqual(cache.key(for: Self.twice), CompileCache(jit: try JIT(target: .avx2)).key(for: Self.twice))
    }

    func testInspectionEmitsIRAssemblyAndObject() throws {
        let ir = """
        define void @axpy(float* noalias %x, float* noalias %y) {
        entry:
          br label %loop
        loop:
          %i = phi i64 [ 0, %entry ], [ %n, %loop ]
          %px = getelementptr inbounds float, float* %x, i64 %i
          %py = getelementptr inbounds float, float* %y, i64 %i
          %a = load float, float* %px
          %b = load float, float* %py
          %c = call float @llvm.fmuladd.f32(float %a, float 2.0, float %b)
          store float %c, float* %py
          %n = add i64 %i, 1
          %d = icmp eq i64 %n, 1024
          br i1 %d, label %exit, label %loop
        exit:
          ret void
        }
        declare float @llvm.fmuladd.f32(float, float, float)
        """
        XCTAssertTrue(try CodegenInspection.llvmIR(ir).contains("@axpy"))
        let asm = try CodegenInspection.assembly(ir)
        XCTAssertTrue(asm.contains("vfmadd"), asm)
        if HostTarget.host.has("avx512f") { XCTAssertTrue(asm.contains("zmm"), asm) }
        let avx2 = try CodegenInspection.assembly(ir, target: .avx2)
        XCTAssertTrue(avx2.contains("ymm"))
        XCTAssertFalse(avx2.contains("zmm"))
        let obj = try CodegenInspection.object(ir)
        XCTAssertEqual(Array(obj.prefix(4)), [0x7f, 0x45, 0x4c, 0x46])  // ELF
    }
}
