internal import CLLVM

/// Emits vectorized transcendental functions inline, as straight-line `<W x float>` code
/// (no libm calls in hot loops). Cephes-style range reduction plus minimax polynomials;
/// max relative error about 1e-7 against libm (tests assert <= 1e-6 over wide ranges).
struct VectorMath {
    let m: Module
    let width: Int

    var b: LLVMBuilderRef { m.builder }
    /// Width 1 means scalar code (which LLVM's loop vectorizer can widen).
    var vf: LLVMTypeRef { width == 1 ? m.f32 : m.vector(width) }
    var vi: LLVMTypeRef { width == 1 ? m.i32 : LLVMVectorType(m.i32, UInt32(width)) }

    func c(_ v: Float) -> LLVMValueRef {
        if width == 1 { return m.float(v) }
        var elems: [LLVMValueRef?] = Array(repeating: m.float(v), count: width)
        return elems.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(width)) }
    }
    func ci(_ v: Int32) -> LLVMValueRef {
        if width == 1 { return LLVMConstInt(m.i32, UInt64(UInt32(bitPattern: v)), 0) }
        var elems: [LLVMValueRef?] = Array(repeating: LLVMConstInt(m.i32, UInt64(UInt32(bitPattern: v)), 0), count: width)
        return elems.withUnsafeMutableBufferPointer { LLVMConstVector($0.baseAddress, UInt32(width)) }
    }
    func add(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { LLVMBuildFAdd(b, x, y, "")! }
    func sub(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { LLVMBuildFSub(b, x, y, "")! }
    func mul(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { LLVMBuildFMul(b, x, y, "")! }
    func div(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { LLVMBuildFDiv(b, x, y, "")! }
    func fma(_ x: LLVMValueRef, _ y: LLVMValueRef, _ z: LLVMValueRef) -> LLVMValueRef { m.call(m.intrinsic("llvm.fmuladd", vf), [x, y, z]) }
    func unary(_ name: String, _ x: LLVMValueRef) -> LLVMValueRef { m.call(m.intrinsic(name, vf), [x]) }
    func minimum(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { m.call(m.intrinsic("llvm.minnum", vf), [x, y]) }
    func maximum(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { m.call(m.intrinsic("llvm.maxnum", vf), [x, y]) }
    func select(_ cond: LLVMValueRef, _ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { LLVMBuildSelect(b, cond, x, y, "")! }
    func lt(_ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { LLVMBuildFCmp(b, LLVMRealOLT, x, y, "")! }
    func abs(_ x: LLVMValueRef) -> LLVMValueRef { unary("llvm.fabs", x) }
    func bitsToFloat(_ i: LLVMValueRef) -> LLVMValueRef { LLVMBuildBitCast(b, i, vf, "")! }
    func floatToBits(_ x: LLVMValueRef) -> LLVMValueRef { LLVMBuildBitCast(b, x, vi, "")! }

    /// Horner evaluation of c[0] + c[1] x + ... (coefficients low to high).
    func poly(_ x: LLVMValueRef, _ coeffs: [Float]) -> LLVMValueRef {
        var acc = c(coeffs.last!)
        for k in stride(from: coeffs.count - 2, through: 0, by: -1) { acc = fma(acc, x, c(coeffs[k])) }
        return acc
    }

    /// 2^n for integer vectors n in [-150, 128], as two normal factors so results may be subnormal.
    func scale(_ y: LLVMValueRef, byPowerOfTwo n: LLVMValueRef) -> LLVMValueRef {
        let n1 = LLVMBuildAShr(b, n, ci(1), "")!
        let n2 = LLVMBuildSub(b, n, n1, "")!
        let p1 = bitsToFloat(LLVMBuildShl(b, LLVMBuildAdd(b, n1, ci(127), "")!, ci(23), "")!)
        let p2 = bitsToFloat(LLVMBuildShl(b, LLVMBuildAdd(b, n2, ci(127), "")!, ci(23), "")!)
        return mul(mul(y, p1), p2)
    }

    /// e^x: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-7 polynomial, then scaled by 2^n.
    func exp(_ x0: LLVMValueRef) -> LLVMValueRef {
        let x = minimum(maximum(x0, c(-104)), c(88.7228391))
        let n = unary("llvm.floor", fma(x, c(1.44269504088896341), c(0.5)))
        var r = fma(n, c(-0.693359375), x)
        r = fma(n, c(2.12194440e-4), r)
        let z = mul(r, r)
        let p = poly(r, [5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4])
        let y = add(fma(p, z, r), c(1))
        let ni = LLVMBuildFPToSI(b, n, vi, "")!
        let out = scale(y, byPowerOfTwo: ni)
        // NaN stays NaN (minnum/maxnum would have replaced it).
        return select(LLVMBuildFCmp(b, LLVMRealUNO, x0, x0, "")!, x0, out)
    }

    /// e^x for x <= 0 (a little above 0 is fine too) where results below ~1.2e-38 may flush
    /// to that floor: the exp inside GELU, whose far tail is checked absolutely.
    /// Same reduction and polynomial as `exp`, but below -87.3 the input is clamped (the result
    /// stays normal, ~1.2e-38, instead of going subnormal), so 2^n is one exponent-field write,
    /// and n is rounded by adding 1.5 * 2^23 + 127, whose low bits then hold n + 127 ready to
    /// shift into place. The clamp is a compare and select, not minnum: x86 does that in one
    /// instruction, and a NaN input fails the compare and propagates through the arithmetic.
    func expNonPositive(_ x0: LLVMValueRef) -> LLVMValueRef {
        let x = select(lt(x0, c(-87.3)), c(-87.3), x0)
        let magic: Float = 12_583_039   // 1.5 * 2^23 + 127
        let t = fma(x, c(1.44269504088896341), c(magic))
        let n = sub(t, c(magic))
        var r = fma(n, c(-0.693359375), x)
        r = fma(n, c(2.12194440e-4), r)
        let z = mul(r, r)
        let p = poly(r, [5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4])
        let y = add(fma(p, z, r), c(1))
        return mul(y, bitsToFloat(LLVMBuildShl(b, floatToBits(t), ci(23), "")!))
    }

    /// ln x: x = 2^e m with m in [sqrt(1/2), sqrt(2)), ln(1+f) by a polynomial, plus e ln 2.
    func log(_ x0: LLVMValueRef) -> LLVMValueRef {
        // Subnormal inputs: scale up by 2^23 first so the exponent field is meaningful.
        let tiny = lt(x0, c(1.17549435e-38))
        let x = select(tiny, mul(x0, c(8388608)), x0)
        let bits = floatToBits(x)
        var e = LLVMBuildSub(b, LLVMBuildAnd(b, LLVMBuildLShr(b, bits, ci(23), "")!, ci(0xff), "")!, ci(126), "")!
        e = select(tiny, LLVMBuildSub(b, e, ci(23), "")!, e)
        let mant = bitsToFloat(LLVMBuildOr(b, LLVMBuildAnd(b, bits, ci(0x007f_ffff), "")!, ci(0x3f00_0000), "")!)  // [0.5, 1)
        let small = lt(mant, c(0.707106781186547524))
        var ef = LLVMBuildSIToFP(b, e, vf, "")!
        ef = select(small, sub(ef, c(1)), ef)
        let f = select(small, sub(add(mant, mant), c(1)), sub(mant, c(1)))
        let z = mul(f, f)
        let p = poly(f, [3.3333331174e-1, -2.4999993993e-1, 2.0000714765e-1, -1.6668057665e-1, 1.4249322787e-1,
                         -1.2420140846e-1, 1.1676998740e-1, -1.1514610310e-1, 7.0376836292e-2])
        var y = mul(mul(p, f), z)
        y = fma(ef, c(-2.12194440e-4), y)
        y = fma(z, c(-0.5), y)
        var r = add(f, y)
        r = fma(ef, c(0.693359375), r)
        // Edge cases as libm: log(0) = -inf, log(x<0) = NaN, log(inf) = inf, NaN propagates.
        r = select(LLVMBuildFCmp(b, LLVMRealOEQ, x0, c(0), "")!, c(-.infinity), r)
        r = select(lt(x0, c(0)), c(.nan), r)
        r = select(LLVMBuildFCmp(b, LLVMRealOEQ, x0, c(.infinity), "")!, x0, r)
        return select(LLVMBuildFCmp(b, LLVMRealUNO, x0, x0, "")!, x0, r)
    }

    /// log(1 + u) for u >= 0, accurate for tiny u (Goldberg: log(v) * u / (v - 1), v = 1 + u).
    func log1p(_ u: LLVMValueRef) -> LLVMValueRef {
        let v = add(u, c(1))
        let d = sub(v, c(1))
        let r = div(mul(log(v), u), d)
        return select(LLVMBuildFCmp(b, LLVMRealOEQ, d, c(0), "")!, u, r)
    }

    /// tanh: odd polynomial for |x| < 0.625, else 1 - 2 / (e^{2|x|} + 1) with the sign restored.
    func tanh(_ x: LLVMValueRef) -> LLVMValueRef {
        let ax = abs(x)
        let z = mul(x, x)
        let p = poly(z, [-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2, -5.70498872745e-3])
        let small = fma(mul(p, z), x, x)
        let big = sub(c(1), div(c(2), add(exp(mul(ax, c(2))), c(1))))
        let signed = unary2("llvm.copysign", big, x)
        return select(lt(ax, c(0.625)), small, signed)
    }

    func unary2(_ name: String, _ x: LLVMValueRef, _ y: LLVMValueRef) -> LLVMValueRef { m.call(m.intrinsic(name, vf), [x, y]) }

    /// erf for |x| < 0.5 by its Taylor series (no cancellation near 0).
    private func erfSeries(_ x: LLVMValueRef) -> LLVMValueRef {
        let z = mul(x, x)
        let twoOverSqrtPi: Float = 1.12837916709551257
        return mul(mul(x, poly(z, [1, -1.0 / 3, 1.0 / 10, -1.0 / 42, 1.0 / 216, -1.0 / 1320, 1.0 / 9360, -1.0 / 75600])), c(twoOverSqrtPi))
    }

    /// erfc(a) for a >= 0: 1 - series below 0.5, else the Chebyshev-fitted erfc of
    /// Numerical Recipes (fractional error < 1.2e-7 everywhere), so tails keep their digits.
    func erfc(nonNegative a: LLVMValueRef) -> LLVMValueRef {
        select(lt(a, c(0.5)), sub(c(1), erfSeries(a)), erfcChebyshev(a))
    }

    /// The Chebyshev-fitted erfc of Numerical Recipes for a >= 0: t e^{q(t) - a^2}, t = 1/(1 + a/2).
    /// a^2 = hi + lo is split exactly (lo by FMA) and exponentiated in two parts: rounding a^2
    /// alone costs |a|^2 * 6e-8 relative in the far tail.
    private func erfcChebyshev(_ a: LLVMValueRef) -> LLVMValueRef {
        let t = div(c(1), fma(a, c(0.5), c(1)))
        let q = poly(t, VectorMath.erfcChebyshevPolynomial)
        let hi = mul(a, a)
        let lo = fma(a, a, LLVMBuildFNeg(b, hi, "")!)
        return mul(t, mul(exp(LLVMBuildFNeg(b, hi, "")!), exp(sub(q, lo))))
    }

    /// Numerical Recipes' erfc exponent polynomial in t = 1/(1 + a/2), low to high.
    static let erfcChebyshevPolynomial: [Float] = [
        -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
    ]

    /// erf: the series for |x| < 0.5, else sign(x) (1 - erfc(|x|)). Both sides are evaluated
    /// for every lane, so the large side is cut to what erf needs: erfc(|x|) <= 0.48 there and
    /// only its absolute error shows (erf >= 0.52), so the Chebyshev erfc takes one
    /// `expNonPositive` of the rounded q - a^2 instead of `erfc`'s split exponent (two `exp`s)
    /// and its own copy of the series. ConvNeXt's unfused erf step (8 x 56 x 56 x 384 floats)
    /// went from 16.0 to 7.8 ms; the GELU derivative of every backward pass evaluates it.
    func erf(_ x: LLVMValueRef) -> LLVMValueRef {
        let ax = abs(x)
        let t = div(c(1), fma(ax, c(0.5), c(1)))
        let tail = mul(t, expNonPositive(fma(ax, LLVMBuildFNeg(b, ax, "")!, poly(t, VectorMath.erfcChebyshevPolynomial))))
        let large = unary2("llvm.copysign", sub(c(1), tail), x)
        return select(lt(ax, c(0.5)), erfSeries(x), large)
    }

    /// sigmoid without overflow: e = e^{-|x|}; x >= 0 ? 1/(1+e) : e/(1+e).
    func sigmoid(_ x: LLVMValueRef) -> LLVMValueRef {
        let e = exp(LLVMBuildFNeg(b, abs(x), "")!)
        let inv = div(c(1), add(c(1), e))
        return select(lt(x, c(0)), mul(e, inv), inv)
    }

    /// log(sigmoid(x)) = min(x, 0) - log1p(e^{-|x|}).
    func logSigmoid(_ x: LLVMValueRef) -> LLVMValueRef {
        sub(minimum(x, c(0)), log1p(exp(LLVMBuildFNeg(b, abs(x), "")!)))
    }

    /// softplus = max(x, 0) + log1p(e^{-|x|}).
    func softplus(_ x: LLVMValueRef) -> LLVMValueRef {
        add(maximum(x, c(0)), log1p(exp(LLVMBuildFNeg(b, abs(x), "")!)))
    }

    /// GELU. Exact form: x Phi(x) = x/2 (1 + erf(x/sqrt2)), with Phi(x) computed from Phi(-|x|)
    /// so the tail does not cancel to 0 (max relative error 1.3e-6 for x >= -6).
    /// Tanh form: x/2 (1 + tanh u) = x sigmoid(2u), stable the same way.
    func gelu(_ x: LLVMValueRef, tanhForm: Bool) -> LLVMValueRef {
        if tanhForm {
            let u = mul(c(0.797884560802865356), fma(mul(mul(x, x), x), c(0.044715), x))
            return mul(x, sigmoid(mul(u, c(2))))
        }
        // Phi(-|x|) = t e^{q(t) - x^2/2}, t = 1/(1 + 0.3 |x|/sqrt2), serves both signs:
        // Phi(x) = 1 - Phi(-|x|) for x >= 0, which does not cancel. x^2/2 enters the exponent
        // through one FMA (rounded once), not through x/sqrt2, which cost 2.2e-6 at x = -6.
        // q absorbs the 1/2 (its constant holds -ln 2); see `geluTailPolynomial`.
        let ax = abs(x)
        let t = div(c(1), fma(ax, c(0.212132034355964257), c(1)))
        let q = poly(t, VectorMath.geluTailPolynomial)
        let tail = mul(t, expGeluArgument(fma(ax, mul(ax, c(-0.5)), q)))
        return mul(x, select(lt(x, c(0)), tail, sub(c(1), tail)))
    }

    /// q(t) = ln(Phi(-x) / t) + x^2/2 with t = 1/(1 + 0.3 x/sqrt2): a degree-7 fit, near
    /// minimax over x in [0, 7] (|error| 1.3e-7, which is the relative error it gives Phi(-x)),
    /// made for Kiln against mpmath. Beyond x = 7 it extrapolates smoothly (t -> 0 keeps q
    /// bounded), and there GELU is below 1e-11 anyway. Two coefficients fewer than the
    /// Numerical Recipes erfc because the fit need not reach x = infinity.
    static let geluTailPolynomial: [Float] = [
        -2.4724905490875244, 1.048630952835083, 0.13031993806362152, 1.4162452220916748,
        -2.3732492923736572, 3.1655616760253906, -2.125631809234619, 0.5174667835235596,
    ]

    /// e^x for the GELU exponent (x <= -ln 2, never above 0): `expNonPositive`'s clamp and
    /// rounding, but a one-constant reduction (n ln 2 in float is off by at most 27 * 1.9e-9
    /// for x >= -18.7, where GELU is checked relatively) and a degree-5 polynomial fitted for
    /// relative error (1.5e-7 in float over |r| <= ln2/2). Three FMAs fewer than `exp`.
    private func expGeluArgument(_ x0: LLVMValueRef) -> LLVMValueRef {
        let x = select(lt(x0, c(-87.3)), c(-87.3), x0)
        let magic: Float = 12_583_039   // 1.5 * 2^23 + 127
        let t = fma(x, c(1.44269504088896341), c(magic))
        let n = sub(t, c(magic))
        let r = fma(n, c(-0.693147182464599609375), x)
        let p = fma(fma(poly(r, [0.4999922811985016, 0.16667115688323975, 0.041890550404787064, 0.008312474936246872]), r, c(1)), r, c(1))
        return mul(p, bitsToFloat(LLVMBuildShl(b, floatToBits(t), ci(23), "")!))
    }

    /// max(x, 0) as `x < 0 ? 0 : x`: one x86 max instruction (minnum/maxnum cost a compare and a
    /// blend more per vector, to return 0 for NaN), and NaN propagates as in the interpreter.
    /// relu6 clamps the same way (`6 < r ? 6 : r`).
    func relu(_ x: LLVMValueRef) -> LLVMValueRef { select(lt(x, c(0)), c(0), x) }

    /// x * sigmoid(x).
    func silu(_ x: LLVMValueRef) -> LLVMValueRef { mul(x, sigmoid(x)) }

    /// The elementwise function `fn` of x (scalar or vector, by this instance's width).
    func apply(_ fn: MathFn, _ x: LLVMValueRef) -> LLVMValueRef {
        switch fn {
        case .neg: return LLVMBuildFNeg(b, x, "")!
        case .exp: return exp(x)
        case .exp_nonpositive: return expNonPositive(x)
        case .log: return log(x)
        case .sqrt: return unary("llvm.sqrt", x)
        case .rsqrt: return div(c(1), unary("llvm.sqrt", x))
        case .tanh: return tanh(x)
        case .sigmoid: return sigmoid(x)
        case .logsigmoid: return logSigmoid(x)
        case .relu: return relu(x)
        case .relu6: let r = relu(x); return select(lt(c(6), r), c(6), r)
        case .gelu: return gelu(x, tanhForm: false)
        case .gelu_tanh: return gelu(x, tanhForm: true)
        case .silu: return silu(x)
        case .softplus: return softplus(x)
        case .abs: return abs(x)
        case .erf: return erf(x)
        case .step: return select(lt(c(0), x), c(1), c(0))
        }
    }
}
