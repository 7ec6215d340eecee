import KilnIR

/// Lowers a Graph IR function to a `KernelProgram`: one buffer per value (reshape aliases
/// its operand), and per op a loop-nest kernel or a GEMM call.
public enum Lowering {
    /// Lowers `f` for `target`, whose micro-kernel tile sets the width of packed weight panels.
    public static func lower(_ f: Function, target: HostTarget = .host) throws -> KernelProgram {
        var ctx = LowerContext(name: f.name, panelWidth: target.panelWidth)
        var map: [ValueID: Int] = [:]
        for a in f.arguments {
            let t = f.type(of: a)
            map[a] = ctx.buffer(f.name(of: a), t, role: f.role(of: a) == .param ? .param : .input)
        }
        try ctx.lowerBody(f, &map)
        let results = f.results.map { map[$0]! }
        for r in results where ctx.buffers[r].role == .temp { ctx.buffers[r].role = .output }
        return KernelProgram(name: f.name, buffers: ctx.buffers, steps: ctx.steps,
                             argumentBuffers: f.arguments.map { map[$0]! }, resultBuffers: results, idLimits: ctx.idLimits,
                             panelWidth: ctx.panelWidth)
    }
}

/// Mutable state while lowering: buffers created so far and steps emitted.
struct LowerContext {
    let name: String
    var buffers: [KernelBuffer] = []
    var steps: [KernelStep] = []
    var counter = 0
    var idLimits: [Int: Int] = [:]

    /// Columns of every packed B panel (`HostTarget.panelWidth`).
    let panelWidth: Int

    init(name: String, panelWidth: Int) { self.name = name; self.panelWidth = panelWidth }

    /// K per block of the tile kernels for these panels (`GemmTile.kBlock`).
    var kBlock: Int { GemmTile.kBlock(nr: panelWidth) }

    /// How a matmul reads a weight packed with `depth` rows per panel.
    func panels(depth: Int) -> PackedPanels { PackedPanels(width: panelWidth, stride: .int(depth * panelWidth)) }

    mutating func buffer(_ name: String, _ t: TensorType, role: KernelBuffer.Role = .temp, constant: [Float]? = nil) -> Int {
        buffers.append(KernelBuffer(name: name, elements: t.elementCount, isInt: t.dtype != .f32, role: role, constant: constant))
        return buffers.count - 1
    }

    mutating func temp(_ name: String, elements: Int) -> Int {
        buffers.append(KernelBuffer(name: name, elements: elements, isInt: false, role: .temp, constant: nil))
        return buffers.count - 1
    }

    /// A per-call, per-thread buffer of a kernel (see `KernelFunction.scratch`).
    mutating func scratch(_ name: String, elements: Int) -> Int {
        buffers.append(KernelBuffer(name: name, elements: max(elements, 1), isInt: false, role: .scratch, constant: nil))
        return buffers.count - 1
    }

    /// Adds a kernel whose buffers are inferred from its body.
    mutating func kernel(_ op: String, parallel: Int, _ body: [KStmt]) {
        counter += 1
        var used = Set<Int>()
        collect(body, &used)
        let scratch = used.filter { buffers[$0].role == .scratch }
        steps.append(.kernel(KernelFunction(name: "\(name)_k\(counter)_\(op)", buffers: used.subtracting(scratch).sorted(),
                                            parallelCount: max(parallel, 1), body: body,
                                            scratch: scratch.sorted().map { ScratchBuffer(id: $0, elements: buffers[$0].elements) })))
    }

    /// Lowers the nodes of `f` given buffers for its arguments; fills `map` with result buffers.
    mutating func lowerBody(_ f: Function, _ map: inout [ValueID: Int]) throws {
        for node in f.nodes {
            let ins = node.inputs.map { map[$0]! }
            let inT = node.inputs.map(f.type(of:)), outT = node.outputs.map(f.type(of:))
            if node.op == .reshape {
                map[node.outputs[0]] = ins[0]
                continue
            }
            let outs: [Int]
            switch node.op {
            case .constant:
                let vals = node.attributes.floats("values")
                let data = vals.isEmpty ? [Float](repeating: Float(node.attributes.float("value")), count: outT[0].elementCount) : vals.map { Float($0) }
                outs = [buffer("const", outT[0], role: .constant, constant: data)]
            case .repeat:
                outs = [try lowerRepeat(node, ins, inT)]
            case .fused where node.attributes.symbol("schedule") == "rows":
                outs = try lowerFusedRows(node, ins)
            case .fused:
                var inner: [ValueID: Int] = [:]
                let body = node.regions[0]
                for (a, b) in zip(body.arguments, ins) { inner[a] = b }
                try lowerBody(body, &inner)
                outs = body.results.map { inner[$0]! }
            default:
                outs = outT.map { buffer("\(node.op)", $0) }
                try lowerOp(node, ins, inT, outs, outT)
            }
            for (v, b) in zip(node.outputs, outs) { map[v] = b }
        }
    }

    mutating func lowerRepeat(_ node: Node, _ ins: [Int], _ inT: [TensorType]) throws -> Int {
        let body = node.regions[0]
        let n = inT[0].elementCount
        let state = buffer("repeat.state", inT[0])
        copy(from: ins[0], to: state, n)
        var inner: [ValueID: Int] = [body.arguments[0]: state]
        for (a, b) in zip(body.arguments.dropFirst(), ins.dropFirst()) { inner[a] = b }
        let saved = steps
        steps = []
        try lowerBody(body, &inner)
        let result = inner[body.results[0]]!
        let bodySteps = steps
        steps = saved
        steps.append(.repeatSteps(count: node.attributes.int("count"), steps: bodySteps, carry: result == state ? [] : [(result, state, n)]))
        return state
    }

    mutating func copy(from: Int, to: Int, _ n: Int) {
        kernel("copy", parallel: n, [.loop("i", .int(n), parallel: true, [.store(to, .ivar("i"), .load(from, .ivar("i")))])])
    }

    private func collect(_ stmts: [KStmt], _ used: inout Set<Int>) {
        for s in stmts {
            switch s {
            case .loop(_, let n, _, let body): collect(n, &used); collect(body, &used)
            case .letInt(_, let e), .variable(_, let e), .assign(_, let e): collect(e, &used)
            case .store(let b, let i, let e): used.insert(b); collect(i, &used); collect(e, &used)
            case .prefetch(let b, let i, _): used.insert(b); collect(i, &used)
            case .transpose(let t):
                used.formUnion([t.src, t.dst])
                for e in [t.rows, t.cols, t.srcOffset, t.srcLd, t.dstOffset, t.dstLd] { collect(e, &used) }
            case .ifThen(let c, let body): collect(c, &used); collect(body, &used)
            case .matmul(let t):
                used.formUnion([t.a, t.b, t.c] + (t.epilogue?.buffers ?? []))
                for e in [t.m, t.n, t.k, t.aOffset, t.aRowStride, t.aColStride, t.bOffset, t.ldb, t.cOffset, t.ldc] + (t.bPanels.map { [$0.stride] } ?? []) {
                    collect(e, &used)
                }
                collect(t.perTile, &used)
            }
        }
    }

    private func collect(_ e: KExpr, _ used: inout Set<Int>) {
        switch e {
        case .int, .float, .ivar, .fvar: break
        case .iop(_, let a, let b), .fop(_, let a, let b): collect(a, &used); collect(b, &used)
        case .call(_, let a), .toFloat(let a): collect(a, &used)
        case .load(let b, let i), .loadInt(let b, let i): used.insert(b); collect(i, &used)
        case .select(let c, let a, let b): collect(c, &used); collect(a, &used); collect(b, &used)
        }
    }

    private func collect(_ c: KCond, _ used: inout Set<Int>) {
        switch c {
        case .ilt(let a, let b), .ige(let a, let b), .flt(let a, let b): collect(a, &used); collect(b, &used)
        case .and(let a, let b): collect(a, &used); collect(b, &used)
        }
    }
}

// Expression shorthands for lowering code.
func + (a: KExpr, b: KExpr) -> KExpr { .iop(.add, a, b) }
func - (a: KExpr, b: KExpr) -> KExpr { .iop(.sub, a, b) }
func * (a: KExpr, b: KExpr) -> KExpr { .iop(.mul, a, b) }
func / (a: KExpr, b: KExpr) -> KExpr { .iop(.div, a, b) }
func % (a: KExpr, b: KExpr) -> KExpr { .iop(.rem, a, b) }
extension KExpr: ExpressibleByIntegerLiteral {
    public init(integerLiteral v: Int) { self = .int(v) }
}
func v(_ name: String) -> KExpr { .ivar(name) }
func fadd(_ a: KExpr, _ b: KExpr) -> KExpr { .fop(.add, a, b) }
func fmul(_ a: KExpr, _ b: KExpr) -> KExpr { .fop(.mul, a, b) }
func fsub(_ a: KExpr, _ b: KExpr) -> KExpr { .fop(.sub, a, b) }
func fdiv(_ a: KExpr, _ b: KExpr) -> KExpr { .fop(.div, a, b) }
