import KilnIR
import KilnPasses

/// A per-pixel reduction over channels inside a row-scheduled block (the backward of a
/// layer norm needs two: the means of `dy * w` and `dy * w * xhat` for each pixel).
extension FusedRows {
    /// For each pixel x of row y: out[x] = sum (or mean) over c of the input at (x, c).
    mutating func channelReduce(_ n: Node, y: KExpr, x: String) -> [KStmt] {
        let input = n.inputs[0], o = n.outputs[0]
        let cin = schedule.channels[input.index]
        let (ob, obase) = row(o, y)
        let c = fresh("c"), acc = fresh("acc")
        let scale: KExpr = n.op == .reduce_mean ? .float(1 / Float(cin)) : .float(1)
        return [.loop(x, .int(width), parallel: false, [
            .variable(acc, .float(0)),
            .loop(c, .int(cin), parallel: false, [.assign(acc, .fop(.add, .fvar(acc), operand(input, y: y, x: .ivar(x), c: .ivar(c))))]),
            .store(ob, obase + .ivar(x), .fop(.mul, .fvar(acc), scale)),
        ])]
    }
}
