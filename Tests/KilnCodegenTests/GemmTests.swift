import XCTest
import COpenBLAS
@testable import KilnCodegen

/// Kiln's sgemm against OpenBLAS's cblas_sgemm (the independent oracle) on odd shapes.
///
/// Every buffer has its exact size. A and B end exactly at an inaccessible page, so any read
/// past their end faults, and are preceded by NaN filler, so a read before them that feeds a
/// result poisons C. C sits between canary regions (and its padding columns, when ldc > n,
/// hold the canary too), checked afterwards: any write outside C's m x n block fails the test.
///
/// Error bound: both sides sum k fp32 products of values in [-1, 1] in different orders; with
/// random signs the rounding error grows like sqrt(k) * eps. Asserted:
/// |kiln - openblas| <= 1.6e-5 * sqrt(k) * (1 + |openblas|)  (about 130 eps * sqrt(k); a wrong
/// element is off by O(1)).
final class GemmTests: XCTestCase {
    static let host = try! Gemm(target: .host)
    static let canary: Float = 12345.5

    /// A float region of `count` elements inside `guardCount` canaries on each side.
    final class Guarded {
        let base: UnsafeMutablePointer<Float>
        let count: Int, guardCount: Int
        let fill: Float
        init(_ count: Int, guardCount: Int = 64, fill: Float) {
            self.count = count
            self.guardCount = guardCount
            self.fill = fill
            base = .allocate(capacity: count + 2 * guardCount)
            base.initialize(repeating: fill, count: count + 2 * guardCount)
        }
        deinit { base.deallocate() }
        var start: UnsafeMutablePointer<Float> { base + guardCount }
        func guardsIntact() -> Bool {
            for g in 0..<guardCount where !same(base[g], fill) || !same(base[guardCount + count + g], fill) { return false }
            return true
        }
        private func same(_ x: Float, _ y: Float) -> Bool { x.bitPattern == y.bitPattern }
    }

    /// `count` floats ending exactly at an inaccessible (PROT_NONE) page, after `guardCount`
    /// filler floats: any read or write past the end faults (the test process crashes, which
    /// fails the run), whether or not its value is used.
    final class PageGuarded {
        let region: UnsafeMutableRawPointer
        let regionSize: Int
        let start: UnsafeMutablePointer<Float>
        let count: Int, guardCount: Int
        let fill: Float
        init(_ count: Int, guardCount: Int = 64, fill: Float) {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let dataBytes = (count + guardCount) * 4
            let dataPages = (dataBytes + page - 1) / page
            regionSize = (dataPages + 1) * page
            region = mmap(nil, regionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
            precondition(region != MAP_FAILED)
            let guardPage = region + dataPages * page
            precondition(mprotect(guardPage, page, PROT_NONE) == 0)
            start = (guardPage - count * 4).bindMemory(to: Float.self, capacity: count)
            (start - guardCount).initialize(repeating: fill, count: guardCount + count)
            self.count = count
            self.guardCount = guardCount
            self.fill = fill
        }
        deinit { munmap(region, regionSize) }
        func guardsIntact() -> Bool {
            (1...guardCount).allSatisfy { (start - $0).pointee.bitPattern == fill.bitPattern }
        }
    }

    static func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000
        }
    }

    func check(_ gemm: Gemm, m: Int, n: Int, k: Int, accumulate: Bool = false, pad: Int = 0, threads: Int = 1,
               file: StaticString = #filePath, line: UInt = #line) {
        let lda = max(k, 1) + pad, ldb = n + pad, ldc = n + pad
        // Exact sizes: the last row of each matrix ends at its last used column.
        let aCount = m == 0 ? 0 : (m - 1) * lda + k, bCount = k == 0 ? 0 : (k - 1) * ldb + n, cCount = (m - 1) * ldc + n
        let a = PageGuarded(aCount, fill: .nan), b = PageGuarded(bCount, fill: .nan), c = Guarded(cCount, fill: Self.canary)
        let av = Self.random(aCount, seed: UInt64(m * 7 + k)), bv = Self.random(bCount, seed: UInt64(n * 13 + k))
        let c0 = Self.random(cCount, seed: 99)
        for i in 0..<m { for p in 0..<k { a.start[i * lda + p] = av[i * lda + p] } }
        for p in 0..<k { for j in 0..<n { b.start[p * ldb + j] = bv[p * ldb + j] } }
        for i in 0..<m { for j in 0..<n { c.start[i * ldc + j] = c0[i * ldc + j] } }
        // Oracle on clean copies (OpenBLAS may read padding columns; they must not be NaN there).
        var aClean = av.map { $0.isNaN ? 0 : $0 }, bClean = bv
        for i in 0..<m { for p in k..<lda where i * lda + p < aCount { aClean[i * lda + p] = 0 } }
        for p in 0..<k { for j in n..<ldb where p * ldb + j < bCount { bClean[p * ldb + j] = 0 } }
        var want = [Float](repeating: 0, count: m * ldc)
        for i in 0..<m { for j in 0..<n { want[i * ldc + j] = c0[i * ldc + j] } }
        if k > 0 {
            aClean += [Float](repeating: 0, count: lda); bClean += [Float](repeating: 0, count: ldb)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, aClean, Int32(lda), bClean, Int32(ldb),
                        accumulate ? 1 : 0, &want, Int32(ldc))
        } else if !accumulate {
            for i in 0..<m { for j in 0..<n { want[i * ldc + j] = 0 } }
        }
        gemm.sgemm(m: m, n: n, k: k, a: a.start, lda: lda, b: b.start, ldb: ldb, c: c.start, ldc: ldc, accumulate: accumulate,
                   threads: threads)

        let shape = "\(m)x\(n)x\(k) pad=\(pad) acc=\(accumulate) threads=\(threads) \(gemm.target.cpu)/\(gemm.tile.nr)"
        XCTAssertTrue(a.guardsIntact() && b.guardsIntact(), "A or B guard written at \(shape)", file: file, line: line)
        XCTAssertTrue(c.guardsIntact(), "write outside C at \(shape)", file: file, line: line)
        var worst: Float = 0
        for i in 0..<m {
            for j in 0..<n { worst = max(worst, abs(c.start[i * ldc + j] - want[i * ldc + j]) / (1 + abs(want[i * ldc + j]))) }
            if i < m - 1 {
                for j in n..<ldc where c.start[i * ldc + j] != Self.canary {
                    XCTFail("padding column \(j) of row \(i) written at \(shape)", file: file, line: line)
                    return
                }
            }
        }
        XCTAssertFalse(worst.isNaN, "NaN in C (a read outside A or B?) at \(shape)", file: file, line: line)
        XCTAssertLessThanOrEqual(worst, 1.6e-5 * Float(max(k, 1)).squareRoot(), "error at \(shape)", file: file, line: line)
    }

    func testOddShapesMatchOpenBLAS() {
        let sizes = [1, 2, 7, 13, 17, 31, 33, 97]
        // K a multiple of the unroll (4) reads small B blocks in place; other K pack B.
        for m in sizes { for n in sizes { for k in [1, 3, 4, 17, 32, 97] { check(Self.host, m: m, n: n, k: k) } } }
    }

    func testPaddedLeadingDimensionsAndAccumulate() {
        for (m, n, k) in [(7, 17, 5), (29, 31, 37), (14, 32, 8), (15, 33, 9)] {
            check(Self.host, m: m, n: n, k: k, pad: 3)
            check(Self.host, m: m, n: n, k: k, accumulate: true, pad: 5)
        }
    }

    func testLargeAndBlockBoundaryShapes() {
        let g = Self.host
        check(g, m: 1000, n: 37, k: 300)
        check(g, m: 13, n: 1000, k: 257)
        check(g, m: 1, n: 1000, k: 1000)
        check(g, m: 1000, n: 1, k: 1000)
        check(g, m: g.mc + 1, n: g.nc + 7, k: g.kc + 3, pad: 1)         // crosses MC, NC and KC
        check(g, m: 2 * g.mc + 11, n: 61, k: 2 * g.kc + 1, accumulate: true)
        check(g, m: 101, n: 103, k: 107, accumulate: true, pad: 2)      // primes
    }

    /// The same shapes with B always packed, and with tiny blocks (every loop boundary crossed).
    func testPackedBAndTinyBlocking() throws {
        let packed = try Gemm(directBLimit: 0)
        let tiny = try Gemm(kc: 8, mcPanels: 1, nc: 64, directBLimit: 0)
        for (m, n, k) in [(7, 17, 4), (33, 31, 96), (64, 64, 64), (15, 100, 20), (29, 65, 33)] {
            check(packed, m: m, n: n, k: k)
            check(tiny, m: m, n: n, k: k)
            check(tiny, m: m, n: n, k: k, accumulate: true, pad: 1)
        }
    }

    /// Two threads: row bands when M >= N, column bands otherwise; bands end mid-tile.
    func testTwoThreads() {
        for (m, n, k) in [(203, 97, 111), (97, 203, 111), (1000, 33, 64), (31, 1000, 64), (160, 160, 160)] {
            check(Self.host, m: m, n: n, k: k, threads: 2)
            check(Self.host, m: m, n: n, k: k, accumulate: true, pad: 3, threads: 2)
        }
    }

    /// A and B read in place (no packing) by the direct kernels: rows past M clamp to row 0,
    /// so the NaN guards around A prove no stray reads.
    func testInPlaceAAndB() throws {
        let direct = try Gemm(directBLimit: .max, directALimit: .max)
        for (m, n, k) in [(14, 33, 32), (28, 64, 8), (97, 17, 4), (210, 31, 64), (15, 16, 4), (16, 48, 12)] {
            check(direct, m: m, n: n, k: k)
            check(direct, m: m, n: n, k: k, accumulate: true, pad: 3)
            check(Self.host, m: m, n: n, k: k, pad: 1)
        }
    }

    func testZeroSizes() {
        check(Self.host, m: 5, n: 6, k: 0)
        check(Self.host, m: 5, n: 6, k: 0, accumulate: true)
        // m or n zero: nothing is touched at all.
        var c: [Float] = [1, 2, 3]
        Self.host.sgemm(m: 0, n: 3, k: 4, a: [Float](repeating: .nan, count: 4), lda: 4, b: [Float](repeating: .nan, count: 12), ldb: 3,
                        c: &c, ldc: 3)
        XCTAssertEqual(c, [1, 2, 3])
    }

    func testPanelHeightsCoverEveryRowExactly() {
        let g = Self.host
        for rows in 1...(3 * g.tile.mr + 1) {
            let hs = g.panelHeights(rows)
            XCTAssertEqual(hs.reduce(0, +), rows)
            XCTAssertTrue(hs.allSatisfy { g.tile.heights.contains($0) })
        }
    }

    func testAVX2TargetIsCorrectAndUsesYmmOnly() throws {
        let g = try Gemm(target: .avx2)
        XCTAssertEqual(g.tile.width, 8)
        XCTAssertEqual(g.tile.nr, 16)
        XCTAssertEqual(g.tile.mr, 6)
        let asm = try g.assembly()
        XCTAssertTrue(asm.contains("ymm"))
        XCTAssertTrue(asm.contains("vfmadd"))
        XCTAssertFalse(asm.contains("zmm"), "AVX2 target emitted AVX-512 code")
        XCTAssertTrue(g.llvmIR.contains("<8 x float>"))
        // The machine runs AVX2 code wherever it has AVX2 + FMA (every AVX-512 machine does).
        guard HostTarget.host.has("avx2") && HostTarget.host.has("fma") else { throw XCTSkip("host has no AVX2/FMA") }
        for (m, n, k) in [(1, 1, 1), (7, 17, 5), (33, 31, 97), (100, 50, 300), (6, 16, 4), (13, 1000, 7)] {
            check(g, m: m, n: n, k: k)
            check(g, m: m, n: n, k: k, accumulate: true, pad: 2)
        }
    }

    func testHostAssemblyIsVectorized() throws {
        let g = Self.host
        let asm = try g.assembly()
        XCTAssertTrue(asm.contains("vfmadd"), "no FMA in the micro-kernel")
        XCTAssertTrue(g.llvmIR.contains("llvm.fmuladd.v\(g.tile.width)f32"))
        XCTAssertEqual(g.tile.width, HostTarget.host.vectorWidth)
        guard HostTarget.host.has("avx512f") else { throw XCTSkip("host has no AVX-512F") }
        XCTAssertTrue(asm.contains("zmm"), "AVX-512 host but no zmm registers")
        XCTAssertTrue(asm.contains("kiln_sgemm_ukernel_\(g.tile.mr)x\(g.tile.nr):"))
        XCTAssertEqual(g.tile.nr, 32)
    }
}
