import KilnIR

/// Layout ops for any element type (floats, ids, masks).
enum Layout {
    static func map<S: InterpScalar>(_ b: Buffer<S>, _ body: (Int) -> Int, count: Int) -> Buffer<S> {
        switch b {
        case .float(let v): return .float((0..<count).map { v[body($0)] })
        case .int(let v): return .int((0..<count).map { v[body($0)] })
        case .bool(let v): return .bool((0..<count).map { v[body($0)] })
        }
    }

    static func permute<S: InterpScalar>(_ b: Buffer<S>, _ shape: [Int], _ perm: [Int]) -> Buffer<S> {
        let inStrides = rowMajorStrides(shape)
        let outShape = perm.map { shape[$0] }
        var sources = [Int](repeating: 0, count: shape.reduce(1, *))
        forEachIndex(outShape) { i, idx in
            var s = 0
            for d in 0..<perm.count { s += idx[d] * inStrides[perm[d]] }
            sources[i] = s
        }
        return map(b, { sources[$0] }, count: sources.count)
    }

    static func slice<S: InterpScalar>(_ b: Buffer<S>, _ shape: [Int], axis: Int, start: Int, step: Int, count: Int) -> Buffer<S> {
        let outer = shape[..<axis].reduce(1, *), len = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        return map(b, { i in
            let o = i / (count * inner), k = (i / inner) % count, r = i % inner
            return (o * len + start + k * step) * inner + r
        }, count: outer * count * inner)
    }

    static func concat<S: InterpScalar>(_ bs: [Buffer<S>], _ shapes: [[Int]], axis: Int) -> Buffer<S> {
        let outer = shapes[0][..<axis].reduce(1, *), inner = shapes[0][(axis + 1)...].reduce(1, *)
        let lens = shapes.map { $0[axis] }, total = lens.reduce(0, +)
        // For each output position along the axis: which operand and which index inside it.
        var which = [Int](), within = [Int]()
        for (i, l) in lens.enumerated() { for k in 0..<l { which.append(i); within.append(k) } }
        let floats = bs.map(\.floats)
        if case .float = bs[0] {
            return .float((0..<(outer * total * inner)).map { i in
                let o = i / (total * inner), k = (i / inner) % total, r = i % inner
                return floats[which[k]][(o * lens[which[k]] + within[k]) * inner + r]
            })
        }
        let ints = bs.map { b -> [Int32] in if case .int(let v) = b { return v }; return b.floats.map { Int32($0) } }
        return .int((0..<(outer * total * inner)).map { i in
            let o = i / (total * inner), k = (i / inner) % total, r = i % inner
            return ints[which[k]][(o * lens[which[k]] + within[k]) * inner + r]
        })
    }

    static func broadcast<S: InterpScalar>(_ b: Buffer<S>, _ shape: [Int], _ out: [Int]) -> Buffer<S> {
        let strides = Kernels<S>.broadcastStrides(shape, to: out)
        var sources = [Int](repeating: 0, count: out.reduce(1, *))
        forEachIndex(out) { i, idx in
            var s = 0
            for d in 0..<out.count { s += idx[d] * strides[d] }
            sources[i] = s
        }
        return map(b, { sources[$0] }, count: sources.count)
    }
}
