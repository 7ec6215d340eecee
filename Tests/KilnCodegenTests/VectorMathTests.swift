import Foundation
import XCTest
import CLLVM
@testable import KilnCodegen

/// Kiln's vectorized transcendentals against Foundation (libm) over wide ranges and tails.
final class VectorMathTests: XCTestCase {
    typealias Fn = @convention(c) (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void

    /// JITs `f(in, out)` applying `body` to one vector, and maps it over `xs`.
    func evaluate(_ target: HostTarget, _ xs: [Float], _ body: (VectorMath, LLVMValueRef) -> LLVMValueRef) throws -> [Float] {
        let m = try Module(name: "math", target: target)
        let w = target.vectorWidth
        let fp = m.pointer(m.f32)
        let f = m.function("apply", returns: m.void, [fp, fp])
        m.position(at: m.block(f, "entry"))
        let v = m.load(m.vector(w), m.vectorPointer(LLVMGetParam(f, 0)!, w))
        m.store(body(VectorMath(m: m, width: w), v), m.vectorPointer(LLVMGetParam(f, 1)!, w))
        LLVMBuildRetVoid(m.builder)
        try m.verify()
        try m.optimize()
        let asm = String(decoding: try m.emit(assembly: true), as: UTF8.self)
        XCTAssertFalse(asm.contains("call"), "vector math must not call libm")
        let code = try JIT(target: target).add(m)
        let fn = unsafeBitCast(try code.address(of: "apply"), to: Fn.self)
        var padded = xs + [Float](repeating: 0, count: (w - xs.count % w) % w)
        var out = [Float](repeating: 0, count: padded.count)
        padded.withUnsafeMutableBufferPointer { ip in
            out.withUnsafeMutableBufferPointer { op in
                for i in stride(from: 0, to: ip.count, by: w) { fn(ip.baseAddress! + i, op.baseAddress! + i) }
            }
        }
        return Array(out.prefix(xs.count))
    }

    /// Dense grid over [lo, hi] plus the given points.
    func grid(_ lo: Float, _ hi: Float, _ n: Int = 20000, extra: [Float] = []) -> [Float] {
        (0...n).map { lo + (hi - lo) * Float($0) / Float(n) } + extra
    }

    func maxRelativeError(_ got: [Float], _ want: [Float], _ xs: [Float]) -> (Double, Float) {
        var worst = 0.0, at: Float = 0
        for (i, (g, w)) in zip(got, want).enumerated() {
            if g == w || (g.isNaN && w.isNaN) { continue }
            // A subnormal float has too few bits for relative error to mean anything:
            // there the result must be within one step of the subnormal grid.
            if Swift.abs(w) < Float.leastNormalMagnitude {
                if Swift.abs(g - w) <= Float.leastNonzeroMagnitude { continue }
            }
            let e = w == 0 ? Double(Swift.abs(g)) * 1e30 : Double(Swift.abs(g - w)) / Double(Swift.abs(w))
            if e > worst { worst = e; at = xs[i] }
        }
        return (worst, at)
    }

    func check(_ name: String, _ xs: [Float], tol: Double = 1e-6, _ reference: (Float) -> Float,
               _ body: @escaping (VectorMath, LLVMValueRef) -> LLVMValueRef, line: UInt = #line) throws {
        for target in [HostTarget.host, .avx2] where target == .host || HostTarget.host.features.contains("+avx2") {
            let got = try evaluate(target, xs, body)
            let (err, at) = maxRelativeError(got, xs.map(reference), xs)
            XCTAssertLessThanOrEqual(err, tol, "\(name) on \(target.cpu): max relative error \(err) at x = \(at)", line: line)
        }
    }

    func testExp() throws {
        try check("exp", grid(-100, 88, extra: [-100, -87.5, -0.0, 0, 1e-8, 88, 88.7, -103]), Foundation.exp) { $0.exp($1) }
    }

    /// The chunkwise kernels' exp (arguments ≤ 0): libm's accuracy down to -87.3, then held at
    /// the smallest normal (~1.2e-38) instead of going subnormal; NaN propagates.
    func testExpNonPositive() throws {
        try check("exp_nonpositive", grid(-87.3, 0, extra: [-0.0, 0, -1e-8, -87.0]), Foundation.exp) { $0.apply(.exp_nonpositive, $1) }
        let xs: [Float] = [-87.5, -100, -1000, -.infinity, .nan]
        let got = try evaluate(.host, xs, { $0.apply(.exp_nonpositive, $1) })
        for (x, y) in zip(xs.dropLast(), got) {
            XCTAssertTrue(y >= 0 && y <= 1.22e-38 && y.isNormal, "exp_nonpositive(\(x)) = \(y)")
        }
        XCTAssertTrue(got.last!.isNaN)
    }

    func testLog() throws {
        var xs = (0...20000).map { Float(Foundation.pow(10.0, -37.0 + 74.0 * Double($0) / 20000)) }
        xs += grid(0.5, 2) + [1, 1 + 1e-7, 1 - 1e-7, 1e-40, Float.leastNormalMagnitude, Float.greatestFiniteMagnitude, 0, .infinity]
        try check("log", xs, Foundation.log) { $0.log($1) }
    }

    func testTanh() throws {
        try check("tanh", grid(-20, 20, extra: [-20, 20, 1e-6, -1e-6, 0.625, -0.625, 0.6249]), Foundation.tanh) { $0.tanh($1) }
    }

    func testErf() throws {
        try check("erf", grid(-6, 6, extra: [1e-6, -1e-6, 0.5, 0.4999, -0.5, 3.9]), Foundation.erf) { $0.erf($1) }
    }

    func testSigmoidFamily() throws {
        let xs = grid(-100, 100, extra: [-100, 100, 0, 30, -30])
        try check("sigmoid", xs, { Float(1 / (1 + Foundation.exp(-Double($0)))) }) { $0.sigmoid($1) }
        try check("logsigmoid", xs, { x in Float(Swift.min(Double(x), 0) - Foundation.log1p(Foundation.exp(-Swift.abs(Double(x))))) }) { $0.logSigmoid($1) }
        try check("softplus", xs, { x in Float(Swift.max(Double(x), 0) + Foundation.log1p(Foundation.exp(-Swift.abs(Double(x))))) }) { $0.softplus($1) }
        try check("silu", grid(-80, 80), { x in Float(Double(x) / (1 + Foundation.exp(-Double(x)))) }) { $0.silu($1) }
    }

    func testErfcTail() throws {
        try check("erfc", grid(0, 9, extra: [0.4999, 0.5, 3, 9]), Foundation.erfc) { $0.erfc(nonNegative: $1) }
    }

    /// GELU to 2e-6 relative (float rounding of x^2/2 in the exponent costs (x^2/2) 6e-8 = 1.1e-6
    /// at x = -6) where |gelu| > 1e-9 (x >= -6); in the far negative tail the float rounding of
    /// x^2 inside any fp32 GELU dominates, so there the check is absolute (1e-12). Huge inputs
    /// give x and about 0 (not NaN from inf * 0 inside), NaN stays NaN.
    func testGelu() throws {
        let extremes = try evaluate(.host, [1e30, -1e30, 80, -80, .nan, 0]) { $0.gelu($1, tanhForm: false) }
        XCTAssertEqual([extremes[0], extremes[2]], [1e30, 80])
        XCTAssertLessThan(Swift.abs(extremes[1]) + Swift.abs(extremes[3]), 1e-30)
        XCTAssertTrue(extremes[4].isNaN)
        XCTAssertEqual(extremes[5], 0)
        let tail = try evaluate(.host, grid(-10, -6, 2000)) { $0.gelu($1, tanhForm: false) }
        XCTAssertTrue(zip(tail, grid(-10, -6, 2000)).allSatisfy { Swift.abs($0 - Float(0.5 * Double($1) * Foundation.erfc(-Double($1) / 2.0.squareRoot()))) < 1e-12 })
        let xs = grid(-6, 10)
        try check("gelu", xs, tol: 2e-6, { x in Float(0.5 * Double(x) * Foundation.erfc(-Double(x) / 2.0.squareRoot())) }) { $0.gelu($1, tanhForm: false) }
        try check("gelu-tanh", xs, tol: 5e-6, { x in
            let d = Double(x)
            // 1 + tanh(u) = 2 / (1 + e^{-2u}), exact and free of cancellation for u << 0.
            let u = (2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)
            return Float(d / (1 + Foundation.exp(-2 * u)))
        }) { $0.gelu($1, tanhForm: true) }
    }
}
