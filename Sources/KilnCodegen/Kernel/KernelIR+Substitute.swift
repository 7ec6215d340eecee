/// Substituting an integer variable in Kernel IR expressions (used to unroll loops by hand).
extension KExpr {
    /// This expression with integer variable `name` replaced by `value`.
    public func substituting(_ name: String, with value: KExpr) -> KExpr {
        let sub = { (e: KExpr) in e.substituting(name, with: value) }
        switch self {
        case .ivar(let v): return v == name ? value : self
        case .int, .float, .fvar: return self
        case .iop(let op, let a, let b): return .iop(op, sub(a), sub(b))
        case .fop(let op, let a, let b): return .fop(op, sub(a), sub(b))
        case .call(let f, let a): return .call(f, sub(a))
        case .load(let buf, let i): return .load(buf, sub(i))
        case .loadInt(let buf, let i): return .loadInt(buf, sub(i))
        case .toFloat(let a): return .toFloat(sub(a))
        case .select(let c, let a, let b): return .select(c.substituting(name, with: value), sub(a), sub(b))
        }
    }
}

extension KCond {
    /// This condition with integer variable `name` replaced by `value`.
    public func substituting(_ name: String, with value: KExpr) -> KCond {
        let sub = { (e: KExpr) in e.substituting(name, with: value) }
        switch self {
        case .ilt(let a, let b): return .ilt(sub(a), sub(b))
        case .ige(let a, let b): return .ige(sub(a), sub(b))
        case .flt(let a, let b): return .flt(sub(a), sub(b))
        case .and(let a, let b): return .and(a.substituting(name, with: value), b.substituting(name, with: value))
        }
    }
}
