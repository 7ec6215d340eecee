import XCTest
import COpenBLAS
@testable import KilnCodegen

/// Kiln's GEMM against OpenBLAS (the independent oracle) on odd shapes, with canaries
/// around C proving nothing outside it is written.
final class GemmTests: XCTestCase {
    static let host = try! Gemm(target: .host)

    func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000
        }
    }

    func check(_ gemm: Gemm, m: Int, n: Int, k: Int, accumulate: Bool = false, padding pad: Int = 3, line: UInt = #line) {
        let lda = k + pad, ldb = n + pad, ldc = n + pad
        let a = random(m * lda, seed: UInt64(m * 7 + k)), b = random(k * ldb, seed: UInt64(n * 13 + k))
        let canary: Float = 12345.5
        let guardCount = 64
        var c = [Float](repeating: canary, count: m * ldc + 2 * guardCount)
        let c0 = random(m * ldc, seed: 99)
        for i in 0..<m { for j in 0..<n { c[guardCount + i * ldc + j] = c0[i * ldc + j] } }
        var want = c0
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb),
                    accumulate ? 1 : 0, &want, Int32(ldc))
        c.withUnsafeMutableBufferPointer { cp in
            gemm.sgemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: cp.baseAddress! + guardCount, ldc: ldc, accumulate: accumulate)
        }
        var worst: Float = 0
        for i in 0..<m {
            for j in 0..<n {
                let got = c[guardCount + i * ldc + j], ref = want[i * ldc + j]
                worst = max(worst, abs(got - ref) / (1 + abs(ref)))
            }
            for j in n..<ldc { XCTAssertEqual(c[guardCount + i * ldc + j], canary, "padding column written at \(m)x\(n)x\(k)", line: line) }
        }
        for g in 0..<guardCount {
            XCTAssertEqual(c[g], canary, "write before C at \(m)x\(n)x\(k)", line: line)
            XCTAssertEqual(c[guardCount + m * ldc + g], canary, "write after C at \(m)x\(n)x\(k)", line: line)
        }
        // fp32 sums of k products of values in [-1, 1]: a few ulps per term.
        XCTAssertLessThanOrEqual(worst, 2e-6 * Float(max(k, 1)).squareRoot() * 4, "\(m)x\(n)x\(k) acc=\(accumulate)", line: line)
    }

    func testOddShapesMatchOpenBLAS() {
        let sizes = [1, 7, 17, 31, 33, 97]
        for m in sizes { for n in sizes { for k in [1, 5, 17, 97] { check(Self.host, m: m, n: n, k: k) } } }
    }

    func testLargeAndBlockBoundaryShapes() {
        check(Self.host, m: 1000, n: 37, k: 300)
        check(Self.host, m: 13, n: 1000, k: 257)
        check(Self.host, m: 169, n: 3075, k: 513)  // crosses MC, NC and KC boundaries
        check(Self.host, m: 101, n: 103, k: 107, accumulate: true)
    }

    func testZeroK() {
        check(Self.host, m: 5, n: 6, k: 0)
        check(Self.host, m: 5, n: 6, k: 0, accumulate: true)
    }

    func testAVX2TargetIsCorrectAndUsesYmmOnly() throws {
        let g = try Gemm(target: .avx2)
        XCTAssertEqual(g.tile.nr, 16)
        XCTAssertTrue(g.assembly.contains("ymm"))
        XCTAssertFalse(g.assembly.contains("zmm"))
        // Run it only where the CPU has AVX2 (every x86-64 machine Kiln targets does).
        if HostTarget.host.features.contains("+avx2") {
            for (m, n, k) in [(7, 17, 5), (33, 31, 97), (100, 50, 300)] { check(g, m: m, n: n, k: k) }
        }
    }

    func testHostAssemblyIsVectorized() throws {
        let asm = Self.host.assembly
        XCTAssertTrue(asm.contains("vfmadd"), "no FMA in the micro-kernel")
        if HostTarget.host.features.contains("+avx512f") {
            XCTAssertTrue(asm.contains("zmm"), "AVX-512 host but no zmm registers")
        }
        XCTAssertTrue(Self.host.llvmIR.contains("llvm.fmuladd.v\(Self.host.tile.width)f32"))
    }
}
