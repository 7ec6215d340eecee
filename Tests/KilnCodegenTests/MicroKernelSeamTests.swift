import XCTest
import CLLVM
@testable import KilnCodegen

/// The seam later fused kernels use: generated code calls Kiln's GEMM micro-kernel as an LLVM
/// function in its own module (and LLVM may inline it).
final class MicroKernelSeamTests: XCTestCase {
    /// `tile2x(A, B, C)`: C = A·B, then C += A·B with a second call (accumulate), so C = 2 A·B,
    /// for one full MR x NR tile with packed panels and K = 2 * unroll.
    func testGeneratedFunctionCallsTheMicroKernel() throws {
        for target in [HostTarget.host, HostTarget.avx2] where target == .host || HostTarget.host.has("avx2") {
            let tile = GemmTile.forTarget(target)
            let m = try Module(name: "seam", target: target)
            let ukernel = GemmMicroKernel.emit(into: m, tile: tile)
            LLVMSetLinkage(ukernel, LLVMInternalLinkage)  // private to the fused kernel's module
            let fp = m.pointer(m.f32)
            let f = m.function("tile2x", returns: m.void, [fp, fp, fp])
            m.position(at: m.block(f, "entry"))
            let (a, b, c) = (LLVMGetParam(f, 0)!, LLVMGetParam(f, 1)!, LLVMGetParam(f, 2)!)
            for accumulate in [0, 1] {
                m.call(m.callee(ukernel), [m.int(2), a, m.int(0), b, m.int(tile.nr), c, m.int(tile.nr), m.int(tile.mr), m.int(tile.nr), m.int(accumulate)])
            }
            LLVMBuildRetVoid(m.builder)
            try m.verify()
            try m.optimize()
            let code = try JIT(target: target).add(m)
            typealias Fn = @convention(c) (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
            let fn = try code.function("tile2x", as: Fn.self)
            let k = 2 * tile.unroll
            let a0 = (0..<(k * tile.mr)).map { Float($0 % 7) - 3 }   // packed: [k][mr]
            let b0 = (0..<(k * tile.nr)).map { Float($0 % 5) - 2 }   // packed: [k][nr]
            var out = [Float](repeating: .nan, count: tile.mr * tile.nr)
            withExtendedLifetime(code) { fn(a0, b0, &out) }
            for i in 0..<tile.mr {
                for j in 0..<tile.nr {
                    let want = 2 * (0..<k).reduce(Float(0)) { $0 + a0[$1 * tile.mr + i] * b0[$1 * tile.nr + j] }
                    XCTAssertEqual(out[i * tile.nr + j], want, "\(target.cpu) C[\(i),\(j)]")
                }
            }
        }
    }
}
