import KilnIR

extension LowerContext {
    mutating func lowerConvolution(_ node: Node, _ ins: [Int], _ inT: [TensorType], _ outs: [Int], _ outT: [TensorType]) {
        let a = node.attributes
        switch node.op {
        case .conv1d:
            // A conv1d is a conv2d of height 1.
            let p = a.ints("padding")
            conv2d(ins, x: [inT[0].shape[0], 1, inT[0].shape[1], inT[0].shape[2]], w: [1] + inT[1].shape,
                   out: outs[0], o: [outT[0].shape[0], 1, outT[0].shape[1], outT[0].shape[2]],
                   stride: [1, a.int("stride")], pad: [0, 0, p[0], p[1]], dil: [1, a.int("dilation")], groups: a.int("groups"))
        case .conv2d:
            conv2d(ins, x: inT[0].shape, w: inT[1].shape, out: outs[0], o: outT[0].shape,
                   stride: a.ints("stride"), pad: a.ints("padding"), dil: a.ints("dilation"), groups: a.int("groups"))
        default:
            pool(node.op == .max_pool2d, ins[0], inT[0].shape, outs[0], outT[0].shape, a)
        }
    }

    /// Direct convolution, parallel over output rows (n, y). For each output pixel the
    /// accumulation runs over (kh, kw, input channel) with the output-channel loop innermost
    /// (contiguous in weight and output, so it vectorizes); depthwise puts channels innermost.
    mutating func conv2d(_ ins: [Int], x xs: [Int], w ws: [Int], out: Int, o os: [Int], stride s: [Int], pad p: [Int], dil d: [Int], groups g: Int) {
        let (h, wd, c) = (xs[1], xs[2], xs[3]), (kh, kw, cg, oc) = (ws[0], ws[1], ws[2], ws[3])
        let (oh, ow) = (os[1], os[2]), og = oc / g
        let (x, w) = (ins[0], ins[1])
        let pix: KExpr = (v("ny") * .int(ow) + v("ox")) * .int(oc)
        let iy: KExpr = (v("ny") % .int(oh)) * .int(s[0]) - .int(p[0]) + v("i") * .int(d[0])
        let ix: KExpr = v("ox") * .int(s[1]) - .int(p[2]) + v("j") * .int(d[1])
        let inBounds: KCond = .and(.and(.ige(v("iy"), 0), .ilt(v("iy"), .int(h))), .and(.ige(v("ix"), 0), .ilt(v("ix"), .int(wd))))
        let inPix: KExpr = ((v("ny") / .int(oh)) * .int(h) + v("iy")) * .int(wd) + v("ix")
        let initOut: KStmt = .loop("o", .int(oc), parallel: false, [
            .store(out, pix + v("o"), ins.count > 2 ? .load(ins[2], v("o")) : .float(0)),
        ])
        let accumulate: [KStmt]
        if cg == 1 && og == 1 {
            // Depthwise: out[pix, ch] += x[in, ch] * w[i, j, 0, ch], channels innermost.
            accumulate = [.loop("ch", .int(oc), parallel: false, [
                .store(out, pix + v("ch"), fadd(.load(out, pix + v("ch")),
                       fmul(.load(x, inPix * .int(c) + v("ch")), .load(w, (v("i") * .int(kw) + v("j")) * .int(oc) + v("ch"))))),
            ])]
        } else {
            accumulate = [.loop("grp", .int(g), parallel: false, [
                .loop("ci", .int(cg), parallel: false, [
                    .letInt("xo", inPix * .int(c) + v("grp") * .int(cg) + v("ci")),
                    .letInt("wo", ((v("i") * .int(kw) + v("j")) * .int(cg) + v("ci")) * .int(oc) + v("grp") * .int(og)),
                    .loop("oo", .int(og), parallel: false, [
                        .store(out, pix + v("grp") * .int(og) + v("oo"), fadd(.load(out, pix + v("grp") * .int(og) + v("oo")),
                               fmul(.load(x, v("xo")), .load(w, v("wo") + v("oo"))))),
                    ]),
                ]),
            ])]
        }
        let rows = os[0] * oh
        kernel("conv", parallel: rows, [.loop("ny", .int(rows), parallel: true, [
            .loop("ox", .int(ow), parallel: false, [
                initOut,
                .loop("i", .int(kh), parallel: false, [
                    .letInt("iy", iy),
                    .loop("j", .int(kw), parallel: false, [
                        .letInt("ix", ix),
                        .ifThen(inBounds, accumulate),
                    ]),
                ]),
            ]),
        ])])
    }

    /// Max or average pooling; padding positions are skipped (avg divides by the in-bounds count).
    mutating func pool(_ isMax: Bool, _ x: Int, _ xs: [Int], _ out: Int, _ os: [Int], _ a: Attributes) {
        let (h, wd, c) = (xs[1], xs[2], xs[3]), (oh, ow) = (os[1], os[2])
        let k = a.ints("window"), s = a.ints("stride"), p = a.ints("padding")
        let rows = os[0] * oh
        let iy: KExpr = (v("ny") % .int(oh)) * .int(s[0]) - .int(p[0]) + v("i")
        let ix: KExpr = v("ox") * .int(s[1]) - .int(p[2]) + v("j")
        let inBounds: KCond = .and(.and(.ige(v("iy"), 0), .ilt(v("iy"), .int(h))), .and(.ige(v("ix"), 0), .ilt(v("ix"), .int(wd))))
        let src: KExpr = .load(x, (((v("ny") / .int(oh)) * .int(h) + v("iy")) * .int(wd) + v("ix")) * .int(c) + v("ch"))
        let update: KStmt = .assign("acc", isMax ? .fop(.max, .fvar("acc"), src) : fadd(.fvar("acc"), src))
        kernel(isMax ? "maxpool" : "avgpool", parallel: rows, [.loop("ny", .int(rows), parallel: true, [
            .loop("ox", .int(ow), parallel: false, [
                .loop("ch", .int(c), parallel: false, [
                    .variable("acc", .float(isMax ? -.infinity : 0)),
                    .variable("count", .float(0)),
                    .loop("i", .int(k[0]), parallel: false, [
                        .letInt("iy", iy),
                        .loop("j", .int(k[1]), parallel: false, [
                            .letInt("ix", ix),
                            .ifThen(inBounds, [update, .assign("count", fadd(.fvar("count"), .float(1)))]),
                        ]),
                    ]),
                    .store(out, ((v("ny") * .int(ow)) + v("ox")) * .int(c) + v("ch"), isMax ? .fvar("acc") : fdiv(.fvar("acc"), .fvar("count"))),
                ]),
            ]),
        ])])
    }
}
