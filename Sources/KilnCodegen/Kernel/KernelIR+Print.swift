/// Text form of Kernel IR for `kiln dump --emit kernels`.
extension KernelProgram: CustomStringConvertible {
    public var description: String {
        var out = "program @\(name)\n"
        for (i, b) in buffers.enumerated() {
            out += "  buffer %b\(i) \(b.isInt ? "i32" : "f32")[\(b.elements)] \(b.role.rawValue) // \(b.name)\n"
        }
        for s in steps { printStep(s, into: &out, indent: "  ") }
        return out
    }

    private func printStep(_ s: KernelStep, into out: inout String, indent: String) {
        switch s {
        case .kernel(let k):
            out += "\(indent)kernel @\(k.name)(\(k.buffers.map { "%b\($0)" }.joined(separator: ", ")))"
            out += k.parallelCount > 1 ? " parallel[\(k.parallelCount)]" : ""
            out += k.scratch.isEmpty ? " {\n" : " scratch(\(k.scratch.map { "%b\($0.id)" }.joined(separator: ", "))) {\n"
            for st in k.body { printStmt(st, k, into: &out, indent: indent + "  ") }
            out += "\(indent)}\n"
        case .gemm(let g):
            func at(_ b: Int, _ off: Int) -> String { off == 0 ? "%b\(b)" : "%b\(b)+\(off)" }
            out += "\(indent)gemm \(at(g.c, g.cOffset)) \(g.accumulate ? "+=" : "=") \(at(g.a, g.aOffset))[\(g.m)x\(g.k)] * \(at(g.b, g.bOffset))[\(g.k)x\(g.n)]\n"
        case .repeatSteps(let count, let steps, let carry):
            out += "\(indent)repeat \(count) {\n"
            for st in steps { printStep(st, into: &out, indent: indent + "  ") }
            for (f, t, n) in carry { out += "\(indent)  copy %b\(t) <- %b\(f) [\(n)]\n" }
            out += "\(indent)}\n"
        }
    }

    private func printStmt(_ s: KStmt, _ k: KernelFunction, into out: inout String, indent: String) {
        switch s {
        case .loop(let v, let n, let parallel, let body):
            out += "\(indent)\(parallel ? "parallel " : "")for %\(v) in 0..<\(expr(n, k)) {\n"
            for st in body { printStmt(st, k, into: &out, indent: indent + "  ") }
            out += "\(indent)}\n"
        case .letInt(let v, let e): out += "\(indent)let %\(v) = \(expr(e, k))\n"
        case .variable(let v, let e): out += "\(indent)var %\(v) = \(expr(e, k))\n"
        case .assign(let v, let e): out += "\(indent)%\(v) = \(expr(e, k))\n"
        case .store(let b, let i, let e): out += "\(indent)%b\(b)[\(expr(i, k))] = \(expr(e, k))\n"
        case .prefetch(let b, let i, let write): out += "\(indent)prefetch\(write ? " for write" : "") %b\(b)[\(expr(i, k))]\n"
        case .transpose(let t):
            out += "\(indent)transpose %b\(t.dst)[\(expr(t.dstOffset, k)); ld \(expr(t.dstLd, k))] = %b\(t.src)[\(expr(t.srcOffset, k)); ld \(expr(t.srcLd, k))]"
            out += " {rows = \(expr(t.rows, k)), cols = \(expr(t.cols, k))}\n"
        case .ifThen(let c, let body):
            out += "\(indent)if \(cond(c, k)) {\n"
            for st in body { printStmt(st, k, into: &out, indent: indent + "  ") }
            out += "\(indent)}\n"
        case .matmul(let t):
            out += "\(indent)matmul %b\(t.c)[\(expr(t.cOffset, k)); ld \(expr(t.ldc, k))] \(t.accumulate ? "+=" : "=") "
            out += "%b\(t.a)[\(expr(t.aOffset, k)); strides \(expr(t.aRowStride, k)),\(expr(t.aColStride, k))]"
            out += " * %b\(t.b)[\(expr(t.bOffset, k)); " + (t.bPanels.map { "panels of \($0.width), stride \(expr($0.stride, k))" } ?? "ld \(expr(t.ldb, k))") + "]"
            out += " {m = \(expr(t.m, k)), n = \(expr(t.n, k)), k = \(expr(t.k, k))}"
            if let e = t.epilogue {
                var parts: [String] = []
                if let b = e.scale { parts.append("* %b\(b)[\(expr(e.scaleOffset, k)) + j]") }
                if let b = e.shift { parts.append("+ %b\(b)[\(expr(e.shiftOffset, k)) + j]") }
                if let a = e.activation { parts.append("then \(a.rawValue)") }
                out += " epilogue {\(parts.joined(separator: " "))}"
            }
            if !t.perTile.isEmpty {
                out += " per tile %tile of %tiles {\n"
                for st in t.perTile { printStmt(st, k, into: &out, indent: indent + "  ") }
                out += "\(indent)}"
            }
            out += "\n"
        }
    }

    private func expr(_ e: KExpr, _ k: KernelFunction) -> String {
        switch e {
        case .int(let v): return String(v)
        case .float(let v): return "\(v)f"
        case .ivar(let v), .fvar(let v): return "%" + v
        case .iop(let op, let a, let b): return "\(op.rawValue)(\(expr(a, k)), \(expr(b, k)))"
        case .fop(let op, let a, let b): return "f\(op.rawValue)(\(expr(a, k)), \(expr(b, k)))"
        case .call(let f, let a): return "\(f.rawValue)(\(expr(a, k)))"
        case .load(let b, let i): return "%b\(b)[\(expr(i, k))]"
        case .loadInt(let b, let i): return "%b\(b).i32[\(expr(i, k))]"
        case .select(let c, let a, let b): return "select(\(cond(c, k)), \(expr(a, k)), \(expr(b, k)))"
        case .toFloat(let a): return "float(\(expr(a, k)))"
        }
    }

    private func cond(_ c: KCond, _ k: KernelFunction) -> String {
        switch c {
        case .ilt(let a, let b), .flt(let a, let b): return "\(expr(a, k)) < \(expr(b, k))"
        case .ige(let a, let b): return "\(expr(a, k)) >= \(expr(b, k))"
        case .and(let a, let b): return "\(cond(a, k)) && \(cond(b, k))"
        }
    }
}
