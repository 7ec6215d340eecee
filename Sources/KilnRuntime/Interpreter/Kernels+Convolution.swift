import KilnIR

extension Kernels {
    /// conv2d over NHWC with weight [KH, KW, C/groups, O] (IR/semantics.md).
    static func conv2d(_ x: [S], _ sx: [Int], _ w: [S], _ sw: [Int], _ bias: [S]?, _ so: [Int], _ a: Attributes) -> [S] {
        let (n, h, wd, c) = (sx[0], sx[1], sx[2], sx[3])
        let (kh, kw, cg, o) = (sw[0], sw[1], sw[2], sw[3])
        let (oh, ow) = (so[1], so[2])
        let s = a.ints("stride"), p = a.ints("padding"), d = a.ints("dilation"), g = a.int("groups")
        let og = o / g
        var out = [S](repeating: 0, count: n * oh * ow * o)
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    for b in 0..<n {
                        for y in 0..<oh {
                            for xo in 0..<ow {
                                let base = ((b * oh + y) * ow + xo) * o
                                if let bias { for j in 0..<o { po[base + j] = bias[j] } }
                                for i in 0..<kh {
                                    let iy = y * s[0] - p[0] + i * d[0]
                                    if iy < 0 || iy >= h { continue }
                                    for j in 0..<kw {
                                        let ix = xo * s[1] - p[2] + j * d[1]
                                        if ix < 0 || ix >= wd { continue }
                                        let xin = ((b * h + iy) * wd + ix) * c
                                        for grp in 0..<g {
                                            for ci in 0..<cg {
                                                let xv = px[xin + grp * cg + ci]
                                                let wrow = ((i * kw + j) * cg + ci) * o + grp * og
                                                for oo in 0..<og { po[base + grp * og + oo] += xv * pw[wrow + oo] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// conv1d over NTC with weight [K, C/groups, O]: conv2d with a height of 1.
    static func conv1d(_ x: [S], _ sx: [Int], _ w: [S], _ sw: [Int], _ bias: [S]?, _ so: [Int], _ a: Attributes) -> [S] {
        let p = a.ints("padding")
        let attrs: Attributes = ["stride": .ints([1, a.int("stride")]), "padding": .ints([0, 0, p[0], p[1]]),
                                 "dilation": .ints([1, a.int("dilation")]), "groups": .int(a.int("groups"))]
        return conv2d(x, [sx[0], 1, sx[1], sx[2]], w, [1, sw[0], sw[1], sw[2]], bias, [so[0], 1, so[1], so[2]], attrs)
    }

    /// Calls body(outIndex, inIndices) for every pooling window over NHWC, with the flat indices
    /// of its in-bounds elements in row-major order (padding positions are skipped).
    static func forEachPoolWindow(_ sx: [Int], _ so: [Int], _ a: Attributes, _ body: (Int, [Int]) -> Void) {
        let (h, wd, c) = (sx[1], sx[2], sx[3])
        let k = a.ints("window"), s = a.ints("stride"), p = a.ints("padding")
        var window: [Int] = []
        for b in 0..<sx[0] { for y in 0..<so[1] { for xo in 0..<so[2] { for ch in 0..<c {
            window.removeAll(keepingCapacity: true)
            for i in 0..<k[0] {
                let iy = y * s[0] - p[0] + i
                if iy < 0 || iy >= h { continue }
                for j in 0..<k[1] {
                    let ix = xo * s[1] - p[2] + j
                    if ix >= 0 && ix < wd { window.append(((b * h + iy) * wd + ix) * c + ch) }
                }
            }
            body(((b * so[1] + y) * so[2] + xo) * c + ch, window)
        } } } }
    }

    /// Max or average pooling over NHWC; average divides by the in-bounds count.
    static func pool(_ isMax: Bool, _ x: [S], _ sx: [Int], _ so: [Int], _ a: Attributes) -> [S] {
        var out = [S](repeating: 0, count: so.reduce(1, *))
        forEachPoolWindow(sx, so, a) { o, window in
            out[o] = isMax ? window.reduce(-S.infinity) { Swift.max($0, x[$1]) } : window.reduce(0) { $0 + x[$1] } / S(window.count)
        }
        return out
    }
}
