import KilnIR

extension VJP {
    static func layout(_ n: Node, _ gs: [ValueID], _ c: GradContext) throws -> [ValueID?] {
        let x = n.inputs[0], a = n.attributes, g = gs[0]
        let xs = c.shape(x), rank = xs.count
        switch n.op {
        case .reshape:
            return [try c.reshape(g, xs)]
        case .broadcast:
            return [try c.sumTo(g, xs)]
        case .permute:
            let perm = a.ints("perm")
            var inverse = [Int](repeating: 0, count: perm.count)
            for (i, p) in perm.enumerated() { inverse[p] = i }
            return [try c.op(.permute, [g], ["perm": .ints(inverse)])]
        case .reduce_sum, .reduce_mean, .reduce_max:
            let axes = Set(try a.ints("axes").map { try normalizeAxis($0, rank: rank, op: n.op.rawValue) })
            let kept = xs.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            var spread = try c.broadcast(try c.reshape(g, kept), xs)
            if n.op == .reduce_mean {
                spread = try c.scale(spread, 1 / Double(axes.reduce(1) { $0 * xs[$1] }))
            } else if n.op == .reduce_max {
                // 1 where x equals the max (every tied element gets the full cotangent).
                let m = try c.broadcast(try c.reshape(n.outputs[0], kept), xs)
                spread = try c.mul(spread, try c.sub(try c.scalar(1), try c.op(.step, [try c.sub(m, x)])))
            }
            return [spread]
        case .cumsum:
            return [try c.op(.cumsum, [g], ["axis": .int(a.int("axis")), "reverse": .bool(!a.bool("reverse")), "exclusive": .bool(a.bool("exclusive"))])]
        case .concat:
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "concat")
            var start = 0
            return try n.inputs.map { v in
                let len = c.shape(v)[axis]
                defer { start += len }
                return try c.op(.slice, [g], ["axis": .int(axis), "start": .int(start), "end": .int(start + len)])
            }
        case .split:
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "split")
            return [try c.op(.concat, gs, ["axis": .int(axis)])]
        default: // slice: place the cotangent back, zeros elsewhere.
            let axis = try normalizeAxis(a.int("axis"), rank: rank, op: "slice")
            let (start, step) = (a.int("start"), a.int("step"))
            let count = c.shape(g)[axis]
            var placed = g
            if step > 1 {
                // Interleave: [.., count, 1, ..] ++ zeros [.., count, step-1, ..] -> [.., count*step, ..], trimmed.
                var expanded = c.shape(g)
                expanded.insert(1, at: axis + 1)
                var zshape = expanded
                zshape[axis + 1] = step - 1
                let inter = try c.op(.concat, [try c.reshape(g, expanded), try c.zeros(TensorType(.f32, zshape))], ["axis": .int(axis + 1)])
                var flat = c.shape(g)
                flat[axis] = count * step
                placed = try c.reshape(inter, flat)
                let keep = min(count * step, xs[axis] - start)
                if keep < count * step { placed = try c.op(.slice, [placed], ["axis": .int(axis), "start": .int(0), "end": .int(keep)]) }
            }
            var parts: [ValueID] = []
            func zeros(_ len: Int) throws -> ValueID {
                var s = xs
                s[axis] = len
                return try c.zeros(TensorType(.f32, s))
            }
            if start > 0 { parts.append(try zeros(start)) }
            parts.append(placed)
            let after = xs[axis] - start - c.shape(placed)[axis]
            if after > 0 { parts.append(try zeros(after)) }
            return [parts.count == 1 ? placed : try c.op(.concat, parts, ["axis": .int(axis)])]
        }
    }
}
