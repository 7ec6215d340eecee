import KilnIR

/// Permutes that are batched 2-D transposes (the weight and activation transposes of every
/// matmul's backward) lower to `TileTranspose` blocks instead of one gather per element: the
/// FFN block's training graph spent 35 ms of ~700 transposing a 4096 x 2048 gradient that way.
extension LowerContext {
    /// Square blocks a transposing permute splits into (the parallel unit): 64 x 64 floats are
    /// 16 KiB read and 16 KiB written, both in L1, with whole cache lines on both sides.
    static let transposeBlock = 64

    /// `(batch, rows, cols)` when `perm` of `shape` moves a contiguous group of input axes
    /// (`cols`, the innermost) in front of the group before it (`rows`) and keeps every axis
    /// before them in place: out[b, j, i] = in[b, i, j]. Nil for any other permutation.
    static func batchedTranspose(perm: [Int], shape: [Int]) -> (batch: Int, rows: Int, cols: Int)? {
        // Axes of size 1 move nothing: drop them, then merge runs of input axes that stay adjacent.
        let live = perm.filter { shape[$0] != 1 }
        let rank = Dictionary(uniqueKeysWithValues: live.sorted().enumerated().map { ($1, $0) })
        var groups: [[Int]] = []   // runs of input axes, in output order
        for a in live {
            if let last = groups.last?.last, rank[a]! == rank[last]! + 1 {
                groups[groups.count - 1].append(a)
            } else {
                groups.append([a])
            }
        }
        guard groups.count >= 2 else { return nil }
        // In input order the groups must read 0, 1, ..., k-1, k+1, k: the last two swapped.
        let k = groups.count - 2
        let firsts = groups.map { rank[$0[0]]! }, order = firsts.sorted()
        guard firsts[..<k] == order[..<k], firsts[k] == order[k + 1], firsts[k + 1] == order[k] else { return nil }
        func size(_ g: [Int]) -> Int { g.reduce(1) { $0 * shape[$1] } }
        return (groups[..<k].reduce(1) { $0 * size($1) }, size(groups[k + 1]), size(groups[k]))
    }

    /// out[b, j, i] = in[b, i, j] for i < rows, j < cols, in `transposeBlock`-square blocks.
    mutating func batchedTranspose(_ input: Int, _ output: Int, batch: Int, rows: Int, cols: Int) {
        let s = Self.transposeBlock
        let rowBlocks = (rows + s - 1) / s, colBlocks = (cols + s - 1) / s
        let tasks = batch * rowBlocks * colBlocks
        let b = v("t") / .int(rowBlocks * colBlocks), rb = (v("t") / .int(colBlocks)) % .int(rowBlocks), cb = v("t") % .int(colBlocks)
        kernel("transpose", parallel: tasks, [.loop("t", .int(tasks), parallel: true, [
            .letInt("r0", rb * .int(s)),
            .letInt("c0", cb * .int(s)),
            .letInt("base", b * .int(rows * cols)),
            .transpose(TileTranspose(rows: .iop(.min, .int(s), .int(rows) - v("r0")), cols: .iop(.min, .int(s), .int(cols) - v("c0")),
                                     src: input, srcOffset: v("base") + v("r0") * .int(cols) + v("c0"), srcLd: .int(cols),
                                     dst: output, dstOffset: v("base") + v("c0") * .int(rows) + v("r0"), dstLd: .int(rows))),
        ])])
    }
}
