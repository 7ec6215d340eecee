/// Sums of many floats as `lanes` independent partial sums: a loop LLVM turns into vector
/// adds. A plain `s += x` loop is one serial chain of scalar adds, because fp32 sums cannot
/// be reassociated from LLVM 14's C API (no fast-math flags); over a 512-wide row that chain
/// made a standalone LayerNorm about five times slower than its memory traffic.
enum LaneSum {
    static let lanes = 16

    /// `target += value(0) + ... + value(count - 1)`, through the `lanes` floats at `partial`
    /// (a per-thread scratch buffer): lane l sums elements l, l + lanes, ...; then the lanes
    /// are added in order, then the `count % lanes` tail. `l`, `block` and `tail` name the
    /// loop variables (unique in the enclosing kernel). With `combine: .max` (and `start`
    /// -infinity) it is a running maximum instead.
    static func statements(partial: Int, into target: String, count: Int, l: String, block: String, tail: String,
                           combine: FloatOp = .add, start: Float = 0, _ value: (KExpr) -> KExpr) -> [KStmt] {
        let (lv, bv) = (KExpr.ivar(l), KExpr.ivar(block))
        let (blocks, rest) = (count / lanes, count % lanes)
        var stmts: [KStmt] = []
        if blocks > 0 {
            stmts += [
                .loop(l, .int(lanes), parallel: false, [.store(partial, lv, .float(start))]),
                .loop(block, .int(blocks), parallel: false, [
                    .loop(l, .int(lanes), parallel: false, [
                        .store(partial, lv, .fop(combine, .load(partial, lv), value(bv * .int(lanes) + lv))),
                    ]),
                ]),
                .loop(l, .int(lanes), parallel: false, [.assign(target, .fop(combine, .fvar(target), .load(partial, lv)))]),
            ]
        }
        if rest > 0 {
            stmts.append(.loop(tail, .int(rest), parallel: false, [
                .assign(target, .fop(combine, .fvar(target), value(.int(blocks * lanes) + .ivar(tail)))),
            ]))
        }
        return stmts
    }
}
