import KilnIR

extension Kernels {
    static func layerNorm(_ x: [S], c: Int, _ g: [S]?, _ b: [S]?, eps: S) -> [S] {
        var out = x
        for r in 0..<(x.count / c) {
            let row = x[r * c..<(r + 1) * c]
            let mean = row.reduce(0, +) / S(c)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / S(c)
            let inv = 1 / S.sqrt(variance + eps)
            for j in 0..<c {
                var v = (x[r * c + j] - mean) * inv
                if let g { v *= g[j] }
                if let b { v += b[j] }
                out[r * c + j] = v
            }
        }
        return out
    }

    static func rmsNorm(_ x: [S], c: Int, _ g: [S]?, eps: S) -> [S] {
        var out = x
        for r in 0..<(x.count / c) {
            let ms = x[r * c..<(r + 1) * c].reduce(0) { $0 + $1 * $1 } / S(c)
            let inv = 1 / S.sqrt(ms + eps)
            for j in 0..<c { out[r * c + j] = x[r * c + j] * inv * (g?[j] ?? 1) }
        }
        return out
    }

    /// Channel = last axis. Training uses the batch mean and biased variance over all other axes.
    static func batchNorm(_ x: [S], c: Int, _ g: [S], _ b: [S], _ rm: [S], _ rv: [S], eps: S, training: Bool) -> [S] {
        var mean = rm, variance = rv
        let rows = x.count / c
        if training {
            mean = [S](repeating: 0, count: c)
            variance = [S](repeating: 0, count: c)
            for r in 0..<rows { for j in 0..<c { mean[j] += x[r * c + j] } }
            for j in 0..<c { mean[j] /= S(rows) }
            for r in 0..<rows { for j in 0..<c { let d = x[r * c + j] - mean[j]; variance[j] += d * d } }
            for j in 0..<c { variance[j] /= S(rows) }
        }
        let scale = (0..<c).map { g[$0] / S.sqrt(variance[$0] + eps) }
        var out = x
        for r in 0..<rows { for j in 0..<c { out[r * c + j] = (x[r * c + j] - mean[j]) * scale[j] + b[j] } }
        return out
    }

    /// (outer, axis length, inner) for an axis of a shape.
    static func split3(_ shape: [Int], _ axis: Int) -> (Int, Int, Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    static func softmax(_ x: [S], _ shape: [Int], axis: Int, log: Bool) -> [S] {
        let (outer, len, inner) = split3(shape, axis)
        var out = x
        for o in 0..<outer {
            for i in 0..<inner {
                let at = { (k: Int) in (o * len + k) * inner + i }
                var m = -S.infinity
                for k in 0..<len { m = Swift.max(m, x[at(k)]) }
                var sum: S = 0
                for k in 0..<len { sum += S.exp(x[at(k)] - m) }
                let logSum = S.log(sum)
                for k in 0..<len { out[at(k)] = log ? x[at(k)] - m - logSum : S.exp(x[at(k)] - m) / sum }
            }
        }
        return out
    }

    static func reduce(_ op: OpKind, _ x: [S], _ shape: [Int], axes: Set<Int>) -> [S] {
        let outShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let ostr = rowMajorStrides(outShape)
        let n = outShape.reduce(1, *)
        var out = [S](repeating: op == .reduce_max ? -S.infinity : 0, count: n)
        forEachIndex(shape) { i, idx in
            var o = 0
            for d in 0..<shape.count where !axes.contains(d) { o += idx[d] * ostr[d] }
            out[o] = op == .reduce_max ? Swift.max(out[o], x[i]) : out[o] + x[i]
        }
        if op == .reduce_mean {
            let count = S(x.count / Swift.max(n, 1))
            for i in 0..<n { out[i] /= count }
        }
        return out
    }

    static func cumsum(_ x: [S], _ shape: [Int], axis: Int, reverse: Bool, exclusive: Bool) -> [S] {
        let (outer, len, inner) = split3(shape, axis)
        var out = x
        for o in 0..<outer {
            for i in 0..<inner {
                var acc: S = 0
                for step in 0..<len {
                    let k = reverse ? len - 1 - step : step
                    let at = (o * len + k) * inner + i
                    if exclusive { out[at] = acc; acc += x[at] } else { acc += x[at]; out[at] = acc }
                }
            }
        }
        return out
    }
}
