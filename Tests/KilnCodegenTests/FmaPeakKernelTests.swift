import XCTest
@testable import KilnCodegen

/// The FMA peak kernel does the FMAs it claims: its lane sum against the closed form.
final class FmaPeakKernelTests: XCTestCase {
    func check(_ target: HostTarget, line: UInt = #line) throws {
        let k = try FmaPeakKernel(target: target)
        let tile = GemmTile.forTarget(target)
        XCTAssertEqual(k.chains, tile.mr * tile.nr / tile.width, line: line)
        XCTAssertEqual(k.flopsPerIteration, Double(2 * k.chains * k.width * k.unroll), line: line)
        // acc = acc * 1 + 0.25 from 0: every lane reaches unroll * n * 0.25 exactly (small integers
        // and quarters are exact in float), so the sum is that times chains * width.
        for n in [0, 1, 3, 100] {
            let want = Float(k.chains * k.width) * Float(k.unroll * n) * 0.25
            XCTAssertEqual(k.run(iterations: n, x: 1, y: 0.25), want, "n = \(n)", line: line)
        }
        // With x = 0 each step restarts from y: the result is chains * width * y, whatever n is.
        XCTAssertEqual(k.run(iterations: 7, x: 0, y: 2), Float(k.chains * k.width) * 2, line: line)
        // Multiplies do happen (x = 2, y = 0 from 0 stays 0; x = 0.5 then y = 1 converges toward 2).
        let converged = k.run(iterations: 40, x: 0.5, y: 1) / Float(k.chains * k.width)
        XCTAssertEqual(converged, 2, accuracy: 1e-6, line: line)
    }

    func testHost() throws { try check(.host) }

    /// The AVX2 form (12 ymm chains), whatever the host has.
    func testAVX2() throws { try check(.avx2) }

    /// The AVX-512 form (28 zmm chains), run only where the host has it.
    func testAVX512() throws {
        guard HostTarget.host.vectorWidth == 16 else { throw XCTSkip("no AVX-512 on this host") }
        try check(HostTarget(cpu: HostTarget.host.cpu, features: HostTarget.host.features))
    }
}
