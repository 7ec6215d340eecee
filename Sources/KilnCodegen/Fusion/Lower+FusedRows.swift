import KilnIR
import KilnPasses

/// Lowers a `fused` op with `schedule = rows` to exactly one kernel.
///
/// The parallel loop runs over tiles (image, row band). Inside a tile a step counter walks
/// the band's rows plus the halo; at step s every computed value v produces its row
/// `s + lead(v)` into its ring of rows in per-thread scratch (`RowSchedule`), so a k x k
/// convolution finds its k input rows there and an expanded intermediate never exists in
/// full. Row matmuls go through the in-kernel micro-kernel; the rest are row loops that
/// LLVM vectorizes over channels.
extension LowerContext {
    mutating func lowerFusedRows(_ node: Node, _ ins: [Int]) throws -> [Int] {
        let body = node.regions[0]
        let s: RowSchedule
        do { s = try RowSchedule(body: body, group: node.attributes.int("row_group")) } catch {
            throw CodegenError("fused block @\(body.name): \(error)")
        }
        // Every result (the block output and values the backward pass reads) is written in full.
        let outs = body.results.map { buffer("fused", body.type(of: $0)) }
        let resultBuffer = Dictionary(uniqueKeysWithValues: zip(body.results, outs))
        let bands = min(max(node.attributes.int("bands"), 1), s.rows)
        var rows = FusedRows(schedule: s, body: body)
        for (a, b) in zip(body.arguments, ins) { rows.storage[a.index] = .global(b) }
        let chains = s.hiddenChains(body: body, maxSlice: kBlock)
        var slices: [ValueID: Int] = [:]
        for chain in chains {
            for v in chain.stored { slices[v] = scratch("\(body.name(of: v)).slice", elements: s.width * chain.slice) }
        }
        let chainValues = Set(chains.flatMap(\.values))
        rows.inlined = FusedRows.inlinedValues(body: body, schedule: s, excluded: chainValues)
        // Reductions over every pixel (backward kernels): per-tile partial sums, added by a second kernel.
        var partials = PixelPartials()
        for (n, step) in zip(body.nodes, s.steps) {
            guard case .pixelReduce = step, let b = resultBuffer[n.outputs[0]] else { continue }
            let elements = body.type(of: n.outputs[0]).elementCount
            partials.entries.append((n.outputs[0], b, partials.total, elements))
        }
        let tiles = s.batch * bands
        if partials.total > 0 { partials.buffer = temp("fused.partials", elements: tiles * partials.total) }
        for (n, step) in zip(body.nodes, s.steps) {
            if case .pixelReduce = step, partials.offset(of: n.outputs[0]) == nil {
                throw CodegenError("fused block @\(body.name): a reduction over pixels (%\(body.name(of: n.outputs[0]))) must be a result of the block")
            }
        }
        for n in body.nodes where partials.offset(of: n.outputs[0]) == nil {
            for o in n.outputs where !chainValues.contains(o) && !rows.inlined.contains(o) {
                if o == body.results[0], let b = resultBuffer[o] {
                    rows.storage[o.index] = .global(b)
                } else {
                    rows.storage[o.index] = .ring(scratch("\(body.name(of: o)).rows", elements: s.ring[o.index] * s.width * s.channels[o.index]))
                }
            }
        }
        // A chain value that is a result is written in full, slice by slice; later nodes read it there.
        for v in chainValues { if let b = resultBuffer[v] { rows.storage[v.index] = .global(b) } }
        var prologue: [KStmt] = []
        var perRow: [KStmt] = []
        for n in body.nodes where n.op == .batch_norm { rows.prepareBatchNorm(n, prologue: &prologue, context: &self) }
        let inChain = Set(chains.flatMap { $0.entries + $0.inner })
        for (i, (n, step)) in zip(body.nodes, s.steps).enumerated() where !inChain.contains(i) {
            if let offset = partials.offset(of: n.outputs[0]) {
                let y = rows.fresh("ry")
                let slice = KExpr.ivar("t") * .int(partials.total) + .int(offset)
                perRow += [.letInt(y, v("sy")),
                           .ifThen(.and(.ige(.ivar(y), v("r0")), .ilt(.ivar(y), v("r1"))),
                                   rows.pixelReduceRow(n, step, y: .ivar(y), partials: partials.buffer, slice: slice))]
                continue
            }
            if let chain = chains.first(where: { $0.exit == i }) {
                try rows.emitChain(chain, slices: slices, into: &perRow, prologue: &prologue, context: &self)
            } else {
                try rows.emit(n, step, into: &perRow, prologue: &prologue, context: &self)
            }
            // A value the backward pass reads is computed in the band's private ring (bands
            // overlap by their halo, and rows are written in several phases), then each band
            // copies the finished rows it owns, [r0, r1), to the full tensor: one writer per row.
            for o in n.outputs where o != body.results[0] {
                guard let full = resultBuffer[o] else { continue }
                perRow += rows.exportRow(o, to: full)
            }
        }
        let halo = s.haloRows
        let zeroPartials: [KStmt] = partials.total == 0 ? [] : [
            .loop("pz", .int(partials.total), parallel: false, [.store(partials.buffer, v("t") * .int(partials.total) + v("pz"), .float(0))]),
        ]
        let tile: [KStmt] = zeroPartials + [
            .letInt("b", v("t") / .int(bands)),
            .letInt("band", v("t") % .int(bands)),
            .letInt("r0", (v("band") * .int(s.rows)) / .int(bands)),
            .letInt("r1", ((v("band") + 1) * .int(s.rows)) / .int(bands)),
            .loop("s", (v("r1") - v("r0")) + .int(halo), parallel: false, [.letInt("sy", v("s") + v("r0") - .int(halo))] + perRow),
        ]
        kernel("fused_rows", parallel: s.batch * bands, prologue + [.loop("t", .int(s.batch * bands), parallel: true, tile)])
        reducePartials(partials, tiles: tiles)
        return outs
    }
}

/// Where a body value's rows live.
enum RowStorage {
    /// A program buffer holding the whole tensor (block arguments and the block output).
    case global(Int)
    /// A ring of rows in per-thread scratch.
    case ring(Int)
}

/// Emits the per-row code of each body node.
struct FusedRows {
    let schedule: RowSchedule
    let body: Function
    var storage: [Int: RowStorage] = [:]
    var counter = 0
    /// Weights packed into panels (`packed(_:k:n:prologue:context:)`) by the kernel's prologue (weight -> scratch buffer).
    var packedWeights: [ValueID: Int] = [:]
    /// Values evaluated inside their reader's expression instead of stored (`FusedRows+Inline`).
    var inlined: Set<ValueID> = []
    /// Per-channel scale and shift of each batch_norm output (value index -> scratch buffer).
    var batchNormTables: [Int: Int] = [:]
    /// Set while building the value of an interior column (`FusedRows+InteriorColumns`):
    /// depthwise taps then need no bounds checks.
    var interiorOnly = false
    /// Set while building the value of a row whose depthwise taps all read image rows
    /// (`FusedRows+InteriorColumns`): they then need no row checks.
    var interiorRow = false

    init(schedule: RowSchedule, body: Function) {
        self.schedule = schedule
        self.body = body
    }

    var width: Int { schedule.width }

    /// Buffer and element offset of row `y` (an integer expression) of spatial value `v`.
    func row(_ v: ValueID, _ y: KExpr) -> (Int, KExpr) {
        let c = schedule.channels[v.index]
        switch storage[v.index]! {
        case .global(let b):
            return (b, ((v_b * .int(schedule.rows) + y) * .int(width)) * .int(c))
        case .ring(let b):
            let r = schedule.ring[v.index]
            return (b, r == 1 ? 0 : (y % .int(r)) * .int(width * c))
        }
    }

    private var v_b: KExpr { .ivar("b") }

    /// A fresh name for kernel variables.
    mutating func fresh(_ base: String) -> String {
        counter += 1
        return "\(base)\(counter)"
    }

    /// Index of element (b, y, x, c) in a non-spatial argument broadcast to the block's shape.
    func broadcastIndex(_ v: ValueID, y: KExpr, x: KExpr, c: KExpr) -> KExpr {
        let shape = body.type(of: v).shape
        // Image [B, H, W, C]; sequence [B, T, C] with token = y * width + x.
        let idx: [KExpr] = schedule.rank == 4 ? [v_b, y, x, c] : [v_b, y * .int(width) + x, c]
        let pad = schedule.rank - shape.count
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
        var e: KExpr = 0
        for d in 0..<shape.count where shape[d] != 1 {
            let term = idx[d + pad] * .int(strides[d])
            e = e == 0 ? term : e + term
        }
        return e
    }

    /// Loads operand `v` at pixel x, channel c of row y (rows, broadcasts and scalars alike).
    func operand(_ v: ValueID, y: KExpr, x: KExpr, c: KExpr) -> KExpr {
        if inlined.contains(v), let producer = body.nodes.first(where: { $0.outputs.contains(v) }) {
            return expression(of: producer, y: y, x: x, c: schedule.channels[v.index] == 1 ? 0 : c)
        }
        if schedule.spatial[v.index] {
            let (buf, base) = row(v, y)
            let ch = schedule.channels[v.index]
            return .load(buf, base + x * .int(ch) + (ch == 1 ? 0 : c))
        }
        return .load(argumentBuffer(v), broadcastIndex(v, y: y, x: x, c: c))
    }

    func argumentBuffer(_ v: ValueID) -> Int {
        guard case .global(let b) = storage[v.index]! else { fatalError("argument stored in a ring") }
        return b
    }

    /// Weight `w` (row-major, `k` x `n`) packed into panels of `context.panelWidth` columns,
    /// zero-padded: the prologue of every call packs it once into per-thread scratch, and the
    /// row matmuls read it as `context.panels(depth: k)`.
    mutating func packed(_ w: ValueID, k: Int, n: Int, prologue: inout [KStmt], context: inout LowerContext) -> Int {
        if let b = packedWeights[w] { return b }
        let pw = context.panelWidth, panels = (n + pw - 1) / pw
        let buf = context.scratch("\(body.name(of: w)).packed", elements: panels * k * pw)
        let src = argumentBuffer(w)
        let (jp, p, jj) = (fresh("jp"), fresh("p"), fresh("jj"))
        let col = KExpr.ivar(jp) * .int(pw) + .ivar(jj)
        let dst = (KExpr.ivar(jp) * .int(k) + .ivar(p)) * .int(pw) + .ivar(jj)
        // Whole panels are plain row copies (they vectorize); only a ragged last panel needs
        // the clamped, zero-filled form, whose data-dependent address made the copy a gather.
        // Row by row, so each weight row is read once front to back: panel by panel read 64
        // bytes from every row (8 KiB apart in an FFN's first weight), and the fused FFN was
        // 0.8-1.2% slower (`--ab-env` on a Zen 3, 1 and 2 threads).
        let whole = n / pw
        if whole > 0 {
            prologue.append(.loop(p, .int(k), parallel: false, [
                .loop(jp, .int(whole), parallel: false, [
                    .loop(jj, .int(pw), parallel: false, [.store(buf, dst, .load(src, .ivar(p) * .int(n) + col))]),
                ]),
            ]))
        }
        if panels > whole {
            let last = KExpr.int(whole * pw) + .ivar(jj)
            let lastDst = (KExpr.int(whole * k) + .ivar(p)) * .int(pw) + .ivar(jj)
            prologue.append(.loop(p, .int(k), parallel: false, [
                .loop(jj, .int(pw), parallel: false, [
                    .store(buf, lastDst, .select(.ilt(last, .int(n)), .load(src, .ivar(p) * .int(n) + .iop(.min, last, .int(n - 1))), .float(0))),
                ]),
            ]))
        }
        packedWeights[w] = buf
        return buf
    }

    /// Copies row `sy + lead(v)` of `v` from its ring to the full tensor `full` when the row
    /// belongs to this band.
    mutating func exportRow(_ v: ValueID, to full: Int) -> [KStmt] {
        let y = fresh("ey"), e = fresh("e")
        let ch = schedule.channels[v.index]
        let (rb, rbase) = row(v, .ivar(y))
        let fullBase = ((KExpr.ivar("b") * .int(schedule.rows) + .ivar(y)) * .int(width)) * .int(ch)
        return [.letInt(y, .ivar("sy") + .int(schedule.lead[v.index])),
                .ifThen(.and(.ige(.ivar(y), .ivar("r0")), .ilt(.ivar(y), .ivar("r1"))), [
                    .loop(e, .int(width * ch), parallel: false, [.store(full, fullBase + .ivar(e), .load(rb, rbase + .ivar(e)))]),
                ])]
    }

    /// Wraps `stmts` so they run only when row `y` of `v` is one the tile needs.
    func guarded(_ v: ValueID, _ y: String, _ stmts: [KStmt]) -> [KStmt] {
        let lo = KExpr.iop(.max, 0, .ivar("r0") - .int(schedule.back[v.index]))
        let hi = KExpr.iop(.min, .int(schedule.rows), .ivar("r1") + .int(schedule.lead[v.index]))
        return [.letInt(y, .ivar("sy") + .int(schedule.lead[v.index])),
                .ifThen(.and(.ige(.ivar(y), lo), .ilt(.ivar(y), hi)), stmts)]
    }
}
