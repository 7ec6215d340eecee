import KilnIR

extension Kernels {
    /// Visits every (output pixel, kernel tap) pair of a conv2d whose input pixel is in bounds:
    /// body(outPixelOffset, inPixelOffset, tapIndex) with offsets in pixels (not channels).
    static func forEachTap(_ xs: [Int], _ os: [Int], _ k: [Int], _ a: Attributes, _ body: (Int, Int, Int) -> Void) {
        let s = a.ints("stride"), p = a.ints("padding"), d = a.ints("dilation")
        for n in 0..<os[0] {
            for y in 0..<os[1] {
                for x in 0..<os[2] {
                    for i in 0..<k[0] {
                        let iy = y * s[0] - p[0] + i * d[0]
                        if iy < 0 || iy >= xs[1] { continue }
                        for j in 0..<k[1] {
                            let ix = x * s[1] - p[2] + j * d[1]
                            if ix < 0 || ix >= xs[2] { continue }
                            body((n * os[1] + y) * os[2] + x, (n * xs[1] + iy) * xs[2] + ix, i * k[1] + j)
                        }
                    }
                }
            }
        }
    }

    /// dx[in, g*Cg+ci] += grad[out, g*Og+oo] * w[tap, ci, g*Og+oo] over every tap.
    static func conv2dBackwardInput(_ g: [S], _ gs: [Int], _ w: [S], _ ws: [Int], _ xs: [Int], _ a: Attributes) -> [S] {
        let groups = a.int("groups"), (cg, o) = (ws[2], ws[3]), og = o / groups, c = xs[3]
        var dx = [S](repeating: 0, count: xs.reduce(1, *))
        forEachTap(xs, gs, [ws[0], ws[1]], a) { op, ip, tap in
            for grp in 0..<groups {
                for ci in 0..<cg {
                    var acc: S = 0
                    for oo in 0..<og { acc += g[op * o + grp * og + oo] * w[(tap * cg + ci) * o + grp * og + oo] }
                    dx[ip * c + grp * cg + ci] += acc
                }
            }
        }
        return dx
    }

    /// dw[tap, ci, g*Og+oo] += x[in, g*Cg+ci] * grad[out, g*Og+oo] over every tap.
    static func conv2dBackwardWeight(_ x: [S], _ xs: [Int], _ g: [S], _ gs: [Int], _ k: [Int], _ a: Attributes) -> [S] {
        let groups = a.int("groups"), c = xs[3], o = gs[3], cg = c / groups, og = o / groups
        var dw = [S](repeating: 0, count: k[0] * k[1] * cg * o)
        forEachTap(xs, gs, k, a) { op, ip, tap in
            for grp in 0..<groups {
                for ci in 0..<cg {
                    let xv = x[ip * c + grp * cg + ci]
                    for oo in 0..<og { dw[(tap * cg + ci) * o + grp * og + oo] += xv * g[op * o + grp * og + oo] }
                }
            }
        }
        return dw
    }
}

extension Kernels {
    /// Routes each window's cotangent to the window's first maximal element (row-major order).
    static func maxPoolBackward(_ x: [S], _ xs: [Int], _ g: [S], _ gs: [Int], _ a: Attributes) -> [S] {
        var dx = [S](repeating: 0, count: x.count)
        forEachPoolWindow(xs, gs, a) { o, window in
            var best = -S.infinity, at = -1
            for idx in window where x[idx] > best { best = x[idx]; at = idx }
            if at >= 0 { dx[at] += g[o] }
        }
        return dx
    }

    static func embeddingBackward(_ ids: [Int32], _ g: [S], rows: Int, dim: Int) throws -> [S] {
        var out = [S](repeating: 0, count: rows * dim)
        for (r, id) in ids.enumerated() {
            guard id >= 0, Int(id) < rows else { throw RuntimeError("embedding_backward: id \(id) is outside the table's \(rows) rows") }
            for j in 0..<dim { out[Int(id) * dim + j] += g[r * dim + j] }
        }
        return out
    }
}
