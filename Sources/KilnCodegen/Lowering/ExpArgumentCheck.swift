/// The stability rule of the chunkwise linear-attention kernels (reference/chunkwise.md §1e),
/// checked on the lowered Kernel IR: every `exp` argument must be provably ≤ 0 given g ≤ 0.
/// Accepted forms, with B a chunk-local cumulative gate buffer (non-increasing, ≤ 0):
///   B[x]                      a cumulative gate itself;
///   B[x] − B[y]               a difference of two of them (the lowering only emits later − earlier);
///   min(e, 0)                 anything clamped.
/// Float variables bound to a B load count as B loads. What this rejects is the factorization
/// e^{B_i}·e^{−B_j} (an exp of −B, or of anything else), which overflows for strong gates.
public enum ExpArgumentCheck {
    /// The first `exp` argument in `kernel` that is not of an accepted form, printed; nil if all are.
    public static func violation(in kernel: KernelFunction, cumulativeBuffers: Set<Int>) -> String? {
        var bound: [String: KExpr] = [:]
        return check(kernel.body, cumulativeBuffers, &bound)
    }

    /// Checks every kernel whose name contains "chunkwise" or "parallel" (the linear-attention
    /// parallel form) in `program`, with the buffers named
    /// like `la.cum*` as the cumulative gates. Returns "kernel: argument" for each violation.
    public static func violations(in program: KernelProgram) -> [String] {
        let cumulative = Set(program.buffers.indices.filter { program.buffers[$0].name.hasPrefix("la.cum") })
        return program.steps.compactMap { step -> String? in
            guard case .kernel(let k) = step, k.name.contains("chunkwise") || k.name.contains("linear_attention_parallel") else { return nil }
            return violation(in: k, cumulativeBuffers: cumulative).map { "\(k.name): exp(\($0))" }
        }
    }

    static func check(_ stmts: [KStmt], _ cum: Set<Int>, _ bound: inout [String: KExpr]) -> String? {
        for s in stmts {
            switch s {
            case .loop(_, _, _, let body), .ifThen(_, let body):
                var inner = bound
                if let v = check(body, cum, &inner) { return v }
            case .variable(let name, let e), .assign(let name, let e):
                if let v = checkExpr(e, cum, bound) { return v }
                bound[name] = e
            case .letInt(_, let e):
                if let v = checkExpr(e, cum, bound) { return v }
            case .store(_, let i, let e):
                if let v = checkExpr(i, cum, bound) ?? checkExpr(e, cum, bound) { return v }
            case .matmul, .prefetch, .transpose:
                break
            }
        }
        return nil
    }

    static func checkExpr(_ e: KExpr, _ cum: Set<Int>, _ bound: [String: KExpr]) -> String? {
        switch e {
        case .call(.exp, let arg), .call(.exp_nonpositive, let arg):
            return nonPositive(arg, cum, bound) ? nil : "\(arg)"
        case .call(_, let a), .toFloat(let a):
            return checkExpr(a, cum, bound)
        case .iop(_, let a, let b), .fop(_, let a, let b):
            return checkExpr(a, cum, bound) ?? checkExpr(b, cum, bound)
        case .select(_, let a, let b):
            return checkExpr(a, cum, bound) ?? checkExpr(b, cum, bound)
        case .load(_, let i), .loadInt(_, let i):
            return checkExpr(i, cum, bound)
        case .int, .float, .ivar, .fvar:
            return nil
        }
    }

    static func isCumulative(_ e: KExpr, _ cum: Set<Int>, _ bound: [String: KExpr]) -> Bool {
        switch e {
        case .load(let b, _): return cum.contains(b)
        case .fvar(let name): return bound[name].map { isCumulative($0, cum, bound) } ?? false
        default: return false
        }
    }

    static func nonPositive(_ e: KExpr, _ cum: Set<Int>, _ bound: [String: KExpr]) -> Bool {
        switch e {
        case .fop(.min, _, .float(let z)), .fop(.min, .float(let z), _): return z <= 0
        case .fop(.sub, let a, let b): return isCumulative(a, cum, bound) && isCumulative(b, cum, bound)
        default: return isCumulative(e, cum, bound)
        }
    }
}
