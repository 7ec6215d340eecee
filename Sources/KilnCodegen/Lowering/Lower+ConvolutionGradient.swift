import KilnIR

extension LowerContext {
    /// conv2d_backward_input in gather form (race-free): parallel over input rows; each input
    /// pixel sums over the taps whose output pixel exists (stride divides the offset).
    ///
    /// The innermost loop runs over contiguous input channels, as in the forward convolution,
    /// so it vectorizes: per valid tap and output channel, out[pixel, ci] += grad[o] * w[tap, o, ci]
    /// on the weight transposed per tap first (one small kernel). Summing over output channels
    /// innermost instead was a dot product LLVM may not vectorize (fp32 sums do not reassociate):
    /// ResNet's 3x3 input gradients ran at ~5 GFLOP/s. Depthwise runs channels innermost.
    mutating func conv2dBackwardInput(_ ins: [Int], _ gs: [Int], _ ws: [Int], _ out: Int, _ xs: [Int], _ a: Attributes) {
        let (h, wd, c) = (xs[1], xs[2], xs[3]), (kh, kw, cg, oc) = (ws[0], ws[1], ws[2], ws[3])
        let (oh, ow) = (gs[1], gs[2]), groups = a.int("groups"), og = oc / groups
        let s = a.ints("stride"), p = a.ints("padding"), d = a.ints("dilation")
        let (g, w) = (ins[0], ins[1])
        let pix: KExpr = (v("r") * .int(wd) + v("ix")) * .int(c)
        let valid: KCond = .and(.and(.and(.ige(v("ny"), 0), .ilt(v("ny") % .int(s[0]), 1)), .ilt(v("ny") / .int(s[0]), .int(oh))),
                                .and(.and(.ige(v("nx"), 0), .ilt(v("nx") % .int(s[1]), 1)), .ilt(v("nx") / .int(s[1]), .int(ow))))
        let opix: KExpr = (((v("r") / .int(h)) * .int(oh) + v("ny") / .int(s[0])) * .int(ow) + v("nx") / .int(s[1])) * .int(oc)
        let tap: KExpr = v("i") * .int(kw) + v("j")
        let accumulate: [KStmt]
        if cg == 1 && og == 1 {
            // Depthwise: out[pixel, ch] += grad[o, ch] * w[tap, ch], channels innermost.
            accumulate = [.letInt("op", opix), .loop("ch", .int(c), parallel: false, [
                .store(out, pix + v("ch"), fadd(.load(out, pix + v("ch")), fmul(.load(g, v("op") + v("ch")), .load(w, tap * .int(oc) + v("ch"))))),
            ])]
        } else {
            // wt[tap, o, ci] = w[tap, ci, o] (o over all groups: ci is the channel within o's group).
            let wt = temp("conv_bwd_input.weight_t", elements: kh * kw * oc * cg)
            kernel("conv_bwd_input_weights", parallel: kh * kw, [.loop("t", .int(kh * kw), parallel: true, [
                .loop("o", .int(oc), parallel: false, [
                    .loop("ci", .int(cg), parallel: false, [
                        .store(wt, (v("t") * .int(oc) + v("o")) * .int(cg) + v("ci"), .load(w, (v("t") * .int(cg) + v("ci")) * .int(oc) + v("o"))),
                    ]),
                ]),
            ])])
            accumulate = [
                .letInt("op", opix),
                .loop("grp", .int(groups), parallel: false, [
                    .loop("oo", .int(og), parallel: false, [
                        .letInt("o", v("grp") * .int(og) + v("oo")),
                        .variable("gv", .load(g, v("op") + v("o"))),
                        .loop("ci", .int(cg), parallel: false, [
                            .store(out, pix + v("grp") * .int(cg) + v("ci"), fadd(.load(out, pix + v("grp") * .int(cg) + v("ci")),
                                   fmul(.fvar("gv"), .load(wt, (tap * .int(oc) + v("o")) * .int(cg) + v("ci"))))),
                        ]),
                    ]),
                ]),
            ]
        }
        let rows = xs[0] * h
        kernel("conv_bwd_input", parallel: rows, [.loop("r", .int(rows), parallel: true, [
            .loop("ix", .int(wd), parallel: false, [
                .loop("c", .int(c), parallel: false, [.store(out, pix + v("c"), .float(0))]),
                .loop("i", .int(kh), parallel: false, [
                    .letInt("ny", v("r") % .int(h) + .int(p[0]) - v("i") * .int(d[0])),
                    .loop("j", .int(kw), parallel: false, [
                        .letInt("nx", v("ix") + .int(p[2]) - v("j") * .int(d[1])),
                        .ifThen(valid, accumulate),
                    ]),
                ]),
            ]),
        ])])
    }

    /// conv2d_backward_weight: parallel over (tap, input channel within a group); each sums
    /// x * grad over every output pixel, output channels innermost.
    mutating func conv2dBackwardWeight(_ ins: [Int], _ xs: [Int], _ gs: [Int], _ out: Int, _ a: Attributes) {
        let (h, wd, c) = (xs[1], xs[2], xs[3]), (oh, ow, oc) = (gs[1], gs[2], gs[3])
        let k = a.ints("kernel"), groups = a.int("groups"), cg = c / groups, og = oc / groups
        let s = a.ints("stride"), p = a.ints("padding"), d = a.ints("dilation")
        let (x, g) = (ins[0], ins[1])
        if og >= 8 {
            conv2dBackwardWeightByTiles(x: x, xs: xs, g: g, gs: gs, out: out, kernel: k, groups: groups, stride: s, padding: p, dilation: d)
            return
        }
        let rows = k[0] * k[1] * cg
        let i: KExpr = (v("t") / .int(cg)) / .int(k[1]), j: KExpr = (v("t") / .int(cg)) % .int(k[1])
        let inBounds: KCond = .and(.and(.ige(v("iy"), 0), .ilt(v("iy"), .int(h))), .and(.ige(v("ix"), 0), .ilt(v("ix"), .int(wd))))
        kernel("conv_bwd_weight", parallel: rows, [.loop("t", .int(rows), parallel: true, [
            .loop("o", .int(oc), parallel: false, [.store(out, v("t") * .int(oc) + v("o"), .float(0))]),
            .loop("n", .int(xs[0]), parallel: false, [
                .loop("oy", .int(oh), parallel: false, [
                    .letInt("iy", v("oy") * .int(s[0]) - .int(p[0]) + i * .int(d[0])),
                    .loop("ox", .int(ow), parallel: false, [
                        .letInt("ix", v("ox") * .int(s[1]) - .int(p[2]) + j * .int(d[1])),
                        .ifThen(inBounds, [
                            .letInt("xb", ((v("n") * .int(h) + v("iy")) * .int(wd) + v("ix")) * .int(c) + v("t") % .int(cg)),
                            .letInt("gb", ((v("n") * .int(oh) + v("oy")) * .int(ow) + v("ox")) * .int(oc)),
                            .loop("grp", .int(groups), parallel: false, [
                                .variable("xv", .load(x, v("xb") + v("grp") * .int(cg))),
                                .loop("oo", .int(og), parallel: false, [
                                    .store(out, v("t") * .int(oc) + v("grp") * .int(og) + v("oo"),
                                           fadd(.load(out, v("t") * .int(oc) + v("grp") * .int(og) + v("oo")),
                                                fmul(.fvar("xv"), .load(g, v("gb") + v("grp") * .int(og) + v("oo"))))),
                                ]),
                            ]),
                        ]),
                    ]),
                ]),
            ]),
        ])])
    }
}

extension LowerContext {
    /// conv2d_backward_weight as matrix products: per tap, dW[ci, o] = sum over output pixels
    /// of x[pixel shifted by the tap, ci] * grad[pixel, o], one `TileMatmul` per output row
    /// (K = the row's pixels whose shifted input is in the image, a strided A). Parallel over
    /// (tap, group), so each task owns its rows of dW. The per-element loop re-read the whole
    /// gradient for every (tap, input channel): ResNet's 3x3 weight gradients ran at ~38 GFLOP/s.
    mutating func conv2dBackwardWeightByTiles(x: Int, xs: [Int], g: Int, gs: [Int], out: Int, kernel k: [Int], groups: Int,
                                              stride s: [Int], padding p: [Int], dilation d: [Int]) {
        let (h, wd, c) = (xs[1], xs[2], xs[3]), (oh, ow, oc) = (gs[1], gs[2], gs[3])
        let cg = c / groups, og = oc / groups, tasks = k[0] * k[1] * groups
        let tap: KExpr = v("t") / .int(groups), grp: KExpr = v("t") % .int(groups)
        let i: KExpr = tap / .int(k[1]), j: KExpr = tap % .int(k[1])
        // Output columns whose input column ox*s - p + j*d lies in [0, wd).
        let lead = KExpr.int(p[2]) - j * .int(d[1]), trail = KExpr.int(wd - 1 + p[2]) - j * .int(d[1])
        let oxLo: KExpr = (.iop(.max, lead, 0) + .int(s[1] - 1)) / .int(s[1])
        let oxHi: KExpr = .iop(.min, .int(ow), (.iop(.max, trail, -1) + .int(s[1])) / .int(s[1]))
        let product = TileMatmul(m: .int(cg), n: .int(og), k: v("ox1") - v("ox0"),
                                 a: x, aOffset: ((v("n") * .int(h) + v("iy")) * .int(wd) + v("ix0")) * .int(c) + grp * .int(cg),
                                 aRowStride: 1, aColStride: .int(c * s[1]),
                                 b: g, bOffset: ((v("n") * .int(oh) + v("oy")) * .int(ow) + v("ox0")) * .int(oc) + grp * .int(og), ldb: .int(oc),
                                 c: out, cOffset: tap * .int(cg * oc) + grp * .int(og), ldc: .int(oc), accumulate: true)
        kernel("conv_bwd_weight", parallel: tasks, [.loop("t", .int(tasks), parallel: true, [
            .loop("ci", .int(cg), parallel: false, [
                .loop("oo", .int(og), parallel: false, [.store(out, (tap * .int(cg) + v("ci")) * .int(oc) + grp * .int(og) + v("oo"), .float(0))]),
            ]),
            .letInt("ox0", oxLo),
            .letInt("ox1", oxHi),
            .letInt("ix0", v("ox0") * .int(s[1]) - .int(p[2]) + j * .int(d[1])),
            .ifThen(.ilt(v("ox0"), v("ox1")), [
                .loop("n", .int(xs[0]), parallel: false, [
                    .loop("oy", .int(oh), parallel: false, [
                        .letInt("iy", v("oy") * .int(s[0]) - .int(p[0]) + i * .int(d[0])),
                        .ifThen(.and(.ige(v("iy"), 0), .ilt(v("iy"), .int(h))), [.matmul(product)]),
                    ]),
                ]),
            ]),
        ])])
    }

    /// Gather form: each input element sums the cotangents of the windows whose first maximum it is.
    mutating func maxPoolBackward(_ ins: [Int], _ xs: [Int], _ gs: [Int], _ out: Int, _ a: Attributes) {
        let (h, wd, c) = (xs[1], xs[2], xs[3]), (oh, ow) = (gs[1], gs[2])
        let k = a.ints("window"), s = a.ints("stride"), p = a.ints("padding")
        let (x, g) = (ins[0], ins[1])
        let n: KExpr = v("r") / .int(h)
        let valid: KCond = .and(.and(.and(.ige(v("ny"), 0), .ilt(v("ny") % .int(s[0]), 1)), .ilt(v("ny") / .int(s[0]), .int(oh))),
                                .and(.and(.ige(v("nx"), 0), .ilt(v("nx") % .int(s[1]), 1)), .ilt(v("nx") / .int(s[1]), .int(ow))))
        let wy: KExpr = (v("ny") / .int(s[0])) * .int(s[0]) - .int(p[0]) + v("ii")
        let wx: KExpr = (v("nx") / .int(s[1])) * .int(s[1]) - .int(p[2]) + v("jj")
        let inWindow: KCond = .and(.and(.ige(v("wy"), 0), .ilt(v("wy"), .int(h))), .and(.ige(v("wx"), 0), .ilt(v("wx"), .int(wd))))
        let xv: KExpr = .load(x, ((n * .int(h) + v("wy")) * .int(wd) + v("wx")) * .int(c) + v("ch"))
        let findMax: [KStmt] = [
            .variable("best", .float(-.infinity)),
            .variable("at", .float(-1)),
            .loop("ii", .int(k[0]), parallel: false, [
                .letInt("wy", wy),
                .loop("jj", .int(k[1]), parallel: false, [
                    .letInt("wx", wx),
                    .ifThen(inWindow, [.ifThen(.flt(.fvar("best"), xv), [
                        .assign("best", xv),
                        .assign("at", .toFloat(v("ii") * .int(k[1]) + v("jj"))),
                    ])]),
                ]),
            ]),
        ]
        let mine: KCond = .flt(.call(.abs, fsub(.fvar("at"), .toFloat(v("i") * .int(k[1]) + v("j")))), .float(0.5))
        let gv: KExpr = .load(g, ((n * .int(oh) + v("ny") / .int(s[0])) * .int(ow) + v("nx") / .int(s[1])) * .int(c) + v("ch"))
        let rows = xs[0] * h
        kernel("maxpool_bwd", parallel: rows, [.loop("r", .int(rows), parallel: true, [
            .loop("ix", .int(wd), parallel: false, [
                .loop("ch", .int(c), parallel: false, [
                    .variable("acc", .float(0)),
                    .loop("i", .int(k[0]), parallel: false, [
                        .letInt("ny", v("r") % .int(h) + .int(p[0]) - v("i")),
                        .loop("j", .int(k[1]), parallel: false, [
                            .letInt("nx", v("ix") + .int(p[2]) - v("j")),
                            .ifThen(valid, findMax + [.ifThen(mine, [.assign("acc", fadd(.fvar("acc"), gv))])]),
                        ]),
                    ]),
                    .store(out, (v("r") * .int(wd) + v("ix")) * .int(c) + v("ch"), .fvar("acc")),
                ]),
            ]),
        ])])
    }

    /// Scatter-add split by column, so threads never write the same element; ids are clamped
    /// here and rejected by the executor when out of range.
    mutating func embeddingBackward(_ ins: [Int], _ count: Int, _ os: [Int], _ out: Int) {
        let (rows, d) = (os[0], os[1])
        idLimits[ins[0]] = min(idLimits[ins[0]] ?? rows, rows)
        let id: KExpr = .iop(.min, .iop(.max, .loadInt(ins[0], v("r")), 0), .int(rows - 1))
        kernel("embedding_bwd", parallel: d, [.loop("j", .int(d), parallel: true, [
            .loop("e", .int(rows), parallel: false, [.store(out, v("e") * .int(d) + v("j"), .float(0))]),
            .loop("r", .int(count), parallel: false, [
                .letInt("id", id),
                .store(out, v("id") * .int(d) + v("j"), fadd(.load(out, v("id") * .int(d) + v("j")), .load(ins[1], v("r") * .int(d) + v("j")))),
            ]),
        ])])
    }
}
