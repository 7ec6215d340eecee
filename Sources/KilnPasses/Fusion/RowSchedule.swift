import KilnIR

/// How a residual block runs as one kernel: one image row at a time, full width.
///
/// Every value of the block with the image's leading shape (`[B, H, W, *]`, or `[B, T, *]`
/// viewed as rows of `group` tokens) is "spatial" and lives in a ring of rows in per-thread
/// scratch; block arguments are read in place. A value feeding a k x k convolution needs k
/// rows at once, so it runs `lead` rows ahead of the block output and keeps `ring` rows
/// (the rolling buffer of DESIGN.md). Everything else keeps one row. Shared by the
/// `fuse-residual-blocks` pass (which decides) and codegen (which emits the kernel).
public struct RowSchedule: Sendable, Hashable {
    /// What one node computes for a row.
    public enum Step: Sendable, Hashable {
        /// Elementwise unary or binary (operands may broadcast over the row).
        case pointwise
        /// 1x1 convolution, linear or matmul with a weight [Cin, Cout]: a matmul per row.
        case rowMatmul
        /// k x k convolution with groups = channels.
        case depthwise(kh: Int, kw: Int, top: Int, left: Int)
        /// k x k dense convolution: kh * kw shifted matmuls per row.
        case dense(kh: Int, kw: Int, top: Int, left: Int)
        /// Normalizations of each pixel (layer_norm, rms_norm) or each channel (inference batch_norm).
        case normalization
        /// split / concat along channels.
        case channelCopy
        /// reduce_sum / reduce_mean over the channels of each pixel (keepdims): one value per pixel.
        case channelReduce
        /// A reduction over every pixel into a non-spatial result (in a backward kernel: a bias,
        /// scale or weight gradient): reduce_sum over [B, H, W] (`kh == 0`), or
        /// conv2d_backward_weight of a 1x1 (dense) or k x k depthwise convolution. Each tile
        /// accumulates its own partial sum; a second kernel adds the partials in tile order.
        case pixelReduce(kh: Int, kw: Int, top: Int, left: Int)
    }

    public let batch: Int
    /// Rank of the block's rows: 4 for images `[B, H, W, C]`, 3 for sequences `[B, T, C]`.
    public let rank: Int
    /// Rows per image and pixels per row (for sequences: T / group rows of `group` tokens).
    public let rows: Int, width: Int
    /// Tokens per row for `[B, T, C]` blocks (1 for images).
    public let group: Int
    /// Per body node, in order.
    public let steps: [Step]
    /// Per body value (index = ValueID.index): channels, rows ahead of the output, ring rows.
    public let channels: [Int], lead: [Int], back: [Int], ring: [Int]
    /// Which body values are spatial (rows live in rings or in the argument buffers).
    public let spatial: [Bool]

    /// Analyzes `body` (the block as a function of its inputs). Throws a reason when the block
    /// cannot run row by row.
    public init(body: Function, group requestedGroup: Int? = nil) throws {
        // The image shape: the first result's, or (a backward kernel that returns only
        // reductions over pixels) the shape of the rows that result reduces.
        var shaped = body.results[0]
        if let p = body.producers()[shaped.index], [.reduce_sum, .conv2d_backward_weight].contains(body.nodes[p].op) {
            shaped = body.nodes[p].inputs[0]
        }
        let out = body.type(of: shaped).shape
        guard out.count == 3 || out.count == 4 else { throw PassError("the block output \(body.type(of: shaped)) is not [B,H,W,C] or [B,T,C]") }
        let lead = Array(out.dropLast())
        batch = out[0]
        rank = out.count
        if out.count == 4 {
            rows = out[1]; width = out[2]; group = 1
        } else {
            let t = out[1]
            let g = requestedGroup ?? RowSchedule.tokenGroup(t)
            guard g > 0, t % g == 0 else { throw PassError("a row group of \(g) tokens does not divide T = \(t)") }
            rows = t / g; width = g; group = g
        }
        let n = body.values.count
        var spatial = [Bool](repeating: false, count: n), channels = [Int](repeating: 0, count: n)
        for (i, v) in body.values.enumerated() where v.type.shape.count == out.count && Array(v.type.shape.dropLast()) == lead {
            spatial[i] = true
            channels[i] = v.type.shape.last!
        }
        var steps: [Step] = []
        for node in body.nodes {
            let ins = node.inputs.map { $0.index }
            if let step = try RowSchedule.pixelReduction(node, body: body, spatial: spatial, channels: channels, rank: out.count) {
                steps.append(step)
                continue
            }
            let isBinary = node.op.info.category == .binary
            guard node.outputs.allSatisfy({ spatial[$0.index] }), let first = ins.first,
                  isBinary ? ins.contains(where: { spatial[$0] }) : spatial[first] else {
                throw PassError("\(node.op) does not map image rows to image rows")
            }
            let extra = ins.dropFirst()
            func operandsAreParams() -> Bool { extra.allSatisfy { !spatial[$0] && body.role(of: ValueID($0)) != .intermediate } }
            switch node.op.info.category {
            case .unary:
                steps.append(.pointwise)
            case .binary:
                // The other operand is another row of the block or an argument broadcast over pixels.
                guard ins.allSatisfy({ spatial[$0] || body.role(of: ValueID($0)) != .intermediate }) else {
                    throw PassError("\(node.op) has an operand computed inside the block that is not a row")
                }
                steps.append(.pointwise)
            default:
                switch node.op {
                case .linear, .matmul:
                    guard operandsAreParams(), body.type(of: node.inputs[1]).rank == 2 else {
                        throw PassError("\(node.op) with a non-weight operand")
                    }
                    steps.append(.rowMatmul)
                case .conv2d:
                    guard out.count == 4, operandsAreParams() else { throw PassError("conv2d with a computed weight") }
                    let a = node.attributes
                    let w = body.type(of: node.inputs[1]).shape
                    let (kh, kw) = (w[0], w[1]), pad = a.ints("padding")
                    guard a.ints("stride") == [1, 1], a.ints("dilation") == [1, 1], pad[0] + pad[1] == kh - 1, pad[2] + pad[3] == kw - 1 else {
                        throw PassError("conv2d with stride \(a.ints("stride")), dilation \(a.ints("dilation")), padding \(pad) changes the image size")
                    }
                    let groups = a.int("groups"), cin = channels[first], cout = channels[node.outputs[0].index]
                    if kh == 1 && kw == 1 && groups == 1 {
                        steps.append(.rowMatmul)
                    } else if groups == 1 {
                        steps.append(.dense(kh: kh, kw: kw, top: pad[0], left: pad[2]))
                    } else if groups == cin && cout == cin {
                        steps.append(.depthwise(kh: kh, kw: kw, top: pad[0], left: pad[2]))
                    } else {
                        throw PassError("conv2d with \(groups) groups and a channel multiplier")
                    }
                case .layer_norm, .rms_norm:
                    guard operandsAreParams() else { throw PassError("\(node.op) with computed parameters") }
                    steps.append(.normalization)
                case .batch_norm:
                    guard !node.attributes.bool("training"), operandsAreParams() else { throw PassError("batch_norm in training mode") }
                    steps.append(.normalization)
                case .split, .concat:
                    let axis = node.attributes.int("axis")
                    guard axis == -1 || axis == out.count - 1, ins.allSatisfy({ spatial[$0] }) else {
                        throw PassError("\(node.op) along axis \(axis) is not a channel split")
                    }
                    steps.append(.channelCopy)
                case .conv2d_backward_input:
                    // The input gradient of a depthwise k x k convolution that keeps the image
                    // size is a depthwise convolution of dy with the flipped kernel.
                    guard out.count == 4, operandsAreParams() else { throw PassError("conv2d_backward_input with a computed weight") }
                    let a = node.attributes
                    let w = body.type(of: node.inputs[1]).shape
                    let (kh, kw) = (w[0], w[1]), pad = a.ints("padding")
                    let ch = channels[node.outputs[0].index]
                    guard a.int("groups") == ch, channels[first] == ch, a.ints("stride") == [1, 1], a.ints("dilation") == [1, 1],
                          pad[0] + pad[1] == kh - 1, pad[2] + pad[3] == kw - 1 else {
                        throw PassError("conv2d_backward_input that is not a same-size depthwise convolution")
                    }
                    steps.append(.depthwise(kh: kh, kw: kw, top: kh - 1 - pad[0], left: kw - 1 - pad[2]))
                case .reduce_sum, .reduce_mean:
                    let axes = node.attributes.ints("axes")
                    guard node.attributes.bool("keepdims"), axes == [-1] || axes == [out.count - 1] else {
                        throw PassError("\(node.op) over axes \(axes) is not a reduction over the channels of each pixel")
                    }
                    steps.append(.channelReduce)
                default:
                    throw PassError("\(node.op) is not fused by the row schedule")
                }
            }
        }
        let reduced = Set(zip(body.nodes, steps).compactMap { n, st -> ValueID? in
            if case .pixelReduce = st { return n.outputs[0] }
            return nil
        })
        for r in body.results where !spatial[r.index] && !reduced.contains(r) {
            throw PassError("the block returns %\(body.name(of: r)) of type \(body.type(of: r)), which is not made of image rows")
        }
        // Leads and rings, walking consumers backwards from the output.
        var leadRows = [Int](repeating: 0, count: n), backRows = [Int](repeating: 0, count: n)
        var ringRows = [Int](repeating: 1, count: n)
        for (node, step) in zip(body.nodes, steps).reversed() {
            let o = node.outputs.map(\.index)
            let l = o.map { leadRows[$0] }.max()!, bk = o.map { backRows[$0] }.max()!
            var (top, bottom) = (0, 0)
            if case .depthwise(let kh, _, let t, _) = step { (top, bottom) = (t, kh - 1 - t) }
            if case .dense(let kh, _, let t, _) = step { (top, bottom) = (t, kh - 1 - t) }
            if case .pixelReduce(let kh, _, let t, _) = step, kh > 0 { (top, bottom) = (t, kh - 1 - t) }
            for i in node.inputs.map(\.index) where spatial[i] {
                leadRows[i] = max(leadRows[i], l + bottom)
                backRows[i] = max(backRows[i], bk + top)
            }
        }
        for (node, step) in zip(body.nodes, steps) {
            var top = 0
            if case .depthwise(_, _, let t, _) = step { top = t }
            if case .dense(_, _, let t, _) = step { top = t }
            if case .pixelReduce(let kh, _, let t, _) = step, kh > 0 { top = t }
            // A node with several outputs (split) reads its input at each output's row, so the
            // ring must reach back to the output that lags most.
            let l = node.outputs.map { leadRows[$0.index] }.min()!
            for i in node.inputs.map(\.index) where spatial[i] {
                ringRows[i] = max(ringRows[i], leadRows[i] - l + top + 1)
            }
        }
        self.steps = steps
        self.channels = channels
        self.spatial = spatial
        self.lead = leadRows
        self.back = backRows
        self.ring = ringRows
    }

    /// Tokens per row for sequence blocks: the largest divisor of T up to 128. Each row group
    /// streams every weight of the block once, so more tokens per group mean fewer passes over
    /// weights that live in L3 (an FFN's are 8 MiB at d = 512); 128 rather than 64 made the
    /// fused FFN 10-22% faster on a Zen 3 (1 thread), and 256 no longer fits L2.
    public static func tokenGroup(_ t: Int) -> Int {
        (1...min(128, max(t, 1))).last { t % $0 == 0 } ?? 1
    }

    /// The fewest tokens per row group that `fuse-residual-blocks` fuses in `auto` mode when a
    /// sequence has more than one group (see there).
    public static let minimumTokenGroup = 32

    /// Extra rows computed before a band's first output row (the halo).
    public var haloRows: Int { zip(lead, back).map { $0 + $1 }.max() ?? 0 }

    /// Floats of per-thread scratch: the rings of every computed spatial value, except that
    /// hidden-chain values keep one slice.
    public func scratchFloats(body: Function) -> Int {
        var total = 0
        let chains = hiddenChains(body: body)
        let sliced = Dictionary(chains.flatMap { c in c.values.map { ($0, c.stored.contains($0) ? c.slice : 0) } }, uniquingKeysWith: { a, _ in a })
        for node in body.nodes {
            for o in node.outputs where !body.results.contains(o) {
                total += sliced[o].map { width * $0 } ?? ring[o.index] * width * channels[o.index]
            }
        }
        return total + 64
    }
}

/// Back-to-back row matmuls with an expanded hidden layer between them (an MLP, SwiGLU):
/// `entries` map the row (`input`) to `hidden` channels, `inner` pointwise nodes work on
/// hidden values, `exit` maps them back. The kernel walks the hidden channels in slices of
/// `slice`, so the expanded row never exists in full and each slice stays in L1.
public struct HiddenChain: Sendable, Hashable {
    /// Body node indices.
    public var entries: [Int], inner: [Int], exit: Int
    public var input: ValueID
    public var hidden: Int
    public var slice: Int
    /// Outputs of the entries and inner nodes.
    public var values: [ValueID]
    /// The values among them that live in slice buffers; the others are evaluated inside
    /// their one reader's expression.
    public var stored: [ValueID]
}

extension RowSchedule {
    /// The deepest hidden slice. Code generation passes its tile kernels' K block
    /// (`GemmTile.kBlock`: 256 on AVX2, 128 on AVX-512) so the exit matmul runs as one block,
    /// one pass over its accumulator per slice; cost estimates use this bound.
    public static let maxHiddenSlice = 256

    /// Finds hidden chains: walking back from each row matmul through pointwise nodes to
    /// row matmuls that share one input, where every value on the way is used only inside.
    /// `sliceBytes` bounds one slice of every chain value together (they stay in L2), and
    /// `maxSlice` the slice depth.
    public func hiddenChains(body: Function, sliceBytes: Int = 256 << 10, maxSlice: Int = RowSchedule.maxHiddenSlice) -> [HiddenChain] {
        let producers = body.producers(), users = body.users()
        var chains: [HiddenChain] = []
        var taken = Set<Int>()
        for (exitIndex, exitNode) in body.nodes.enumerated() where steps[exitIndex] == .rowMatmul {
            let h = exitNode.inputs[0]
            let hidden = channels[h.index]
            var members = Set<Int>(), entries: [Int] = [], inner: [Int] = []
            var input: ValueID?
            var stack = [h], ok = true
            while ok, let v = stack.popLast() {
                guard spatial[v.index], channels[v.index] == hidden else { ok = false; break }
                // A hidden-wide block argument (a backward kernel's saved pre-activation) is read
                // in place, slice by slice.
                guard let p = producers[v.index] else { ok = body.arguments.contains(v); continue }
                if members.contains(p) { continue }
                members.insert(p)
                let node = body.nodes[p]
                switch steps[p] {
                case .rowMatmul:
                    if input == nil { input = node.inputs[0] }
                    ok = input == node.inputs[0]
                    entries.append(p)
                case .pointwise:
                    inner.append(p)
                    stack += node.inputs.filter { spatial[$0.index] }
                default:
                    ok = false
                }
            }
            guard ok, let input, !entries.isEmpty, members.isDisjoint(with: taken) else { continue }
            // Every chain value is read only by the chain (or the exit), unless it is a block
            // result: that one is also written in full, slice by slice (a backward kernel's
            // hidden gradient, which a weight-gradient GEMM reads), and reductions over pixels
            // after the exit may read it there (its bias gradient). Nothing else may: the chain
            // writes the value at the exit's row, so a reader with a row halo would find rows
            // not yet written.
            let values = members.flatMap { body.nodes[$0].outputs }
            func reducesPixels(_ i: Int) -> Bool { if case .pixelReduce = steps[i] { return true }; return false }
            let closed = values.allSatisfy { v in
                users[v.index].allSatisfy {
                    members.contains($0) || $0 == exitIndex || (body.results.contains(v) && $0 > exitIndex && reducesPixels($0))
                }
            }
            guard closed, hidden > 16 else { continue }
            // Values with a slice buffer: matmul outputs, what the exit reads, values read twice
            // in the chain and results. The rest (one reader, a pointwise node of the chain) are
            // evaluated inside their reader's expression.
            let stored = values.filter { v in
                let readers = users[v.index]
                return entries.contains(producers[v.index]!) || readers.contains(exitIndex) || readers.count != 1 || body.results.contains(v)
            }
            // The largest slice up to `maxSlice` that divides the hidden width, fills whole
            // 32-wide micro-kernel panels and keeps one slice of every chain value within
            // `sliceBytes`. Deeper slices mean fewer passes over the exit matmul's accumulator
            // and more column panels per pass over the entry's input: on a Zen 3 slices of 128
            // beat slices of 64 (which kept them in L1) by 10% in the fused FFN, and 256 beat
            // 128 by 1.3-1.7% (with K blocks of 256).
            let budget: Int = sliceBytes / (4 * width * max(stored.count, 1))
            let candidates: [Int] = Array(1...min(hidden, maxSlice, max(budget, 32))).reversed()
            let panels: Int? = candidates.first { hidden % $0 == 0 && $0 % 32 == 0 }
            let slice: Int = panels ?? candidates.first { hidden % $0 == 0 } ?? hidden
            taken.formUnion(members)
            taken.insert(exitIndex)
            chains.append(HiddenChain(entries: entries.sorted(), inner: inner.sorted(), exit: exitIndex, input: input,
                                      hidden: hidden, slice: slice, values: values.sorted(), stored: stored.sorted()))
        }
        return chains
    }
}
