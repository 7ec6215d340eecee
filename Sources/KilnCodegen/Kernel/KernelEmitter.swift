internal import CLLVM

/// Emits each `KernelFunction` as `void name(i64 begin, i64 end, float** buffers)`.
///
/// The top-level parallel loop runs iterations `begin..<end`; with `begin < 0` it instead takes
/// iterations from the shared `i64` counter in the table's slot after the buffers until it
/// reaches `end` (dynamic scheduling: on a shared machine, a thread whose core is slow simply
/// takes fewer tiles). Iterations are independent, so results do not depend on who ran what.
/// A grab takes a run of `grain` iterations, ⌈end / 64⌉ when shared (an elementwise kernel has
/// an iteration per element: one atomic each would cost more than the work and keep the loop
/// from vectorizing) and the whole range when static.
struct KernelEmitter {
    let m: Module
    let matmuls: TileMatmulEmitter

    init(m: Module) {
        self.m = m
        matmuls = TileMatmulEmitter(m: m)
    }

    /// The entry point loads the buffer table and calls `<name>.body`, which takes each buffer
    /// as its own `noalias` parameter and is always inlined: distinct buffers never overlap
    /// (the memory plan only shares space between buffers that are not live together), and
    /// saying so lets LLVM vectorize loops that read many buffers without runtime alias checks.
    func emit(_ k: KernelFunction) throws {
        let fp = m.pointer(m.f32)
        let outer = m.function(k.name, returns: m.void, [m.i64, m.i64, m.pointer(fp)], noalias: [2])
        let counterType = m.pointer(m.i64)
        let params = [m.i64, m.i64] + k.buffers.map { _ in fp } + [counterType, m.i64]
        let fn = m.function(k.name + ".body", returns: m.void, params, noalias: Array(2..<(params.count - 2)))
        LLVMSetLinkage(fn, LLVMInternalLinkage)
        let always = LLVMGetEnumAttributeKindForName("alwaysinline", 12)
        LLVMAddAttributeAtIndex(fn, LLVMAttributeIndex(truncatingIfNeeded: LLVMAttributeFunctionIndex), LLVMCreateEnumAttribute(m.context, always, 0))
        let outerEntry = m.block(outer, "entry"), shared = m.block(outer, "shared"), call = m.block(outer, "call")
        m.position(at: outerEntry)
        let table = LLVMGetParam(outer, 2)!
        let begin = LLVMGetParam(outer, 0)!
        var args = [begin, LLVMGetParam(outer, 1)!]
        for slot in k.buffers.indices { args.append(m.load(fp, m.gep(table, m.int(slot), fp), align: 8)) }
        // A static range counts on a private counter that starts at `begin`.
        let own = LLVMBuildAlloca(m.builder, m.i64, "next")!
        m.store(begin, own)
        let end = LLVMGetParam(outer, 1)!
        let staticGrain = LLVMBuildSub(m.builder, end, begin, "")!
        LLVMBuildCondBr(m.builder, LLVMBuildICmp(m.builder, LLVMIntSLT, begin, m.int(0), "")!, shared, call)
        m.position(at: shared)
        let slot = m.load(fp, m.gep(table, m.int(k.buffers.count), fp), align: 8)
        let sharedCounter = LLVMBuildBitCast(m.builder, slot, counterType, "")!
        let sharedGrain = LLVMBuildSDiv(m.builder, LLVMBuildAdd(m.builder, end, m.int(63), "")!, m.int(64), "")!
        LLVMBuildBr(m.builder, call)
        m.position(at: call)
        let counter = LLVMBuildPhi(m.builder, counterType, "counter")!
        var incoming: [LLVMValueRef?] = [own, sharedCounter], from: [LLVMBasicBlockRef?] = [outerEntry, shared]
        LLVMAddIncoming(counter, &incoming, &from, 2)
        let grain = LLVMBuildPhi(m.builder, m.i64, "grain")!
        var grains: [LLVMValueRef?] = [staticGrain, sharedGrain]
        LLVMAddIncoming(grain, &grains, &from, 2)
        args += [counter, LLVMBuildSelect(m.builder, LLVMBuildICmp(m.builder, LLVMIntSGT, grain, m.int(1), "")!, grain, m.int(1), "")!]
        var ps: [LLVMTypeRef?] = params
        let fnType = ps.withUnsafeMutableBufferPointer { LLVMFunctionType(m.void, $0.baseAddress, UInt32(params.count), 0)! }
        _ = m.call((fn, fnType), args)
        LLVMBuildRetVoid(m.builder)

        let entry = m.block(fn, "entry"), start = m.block(fn, "start")
        m.position(at: entry)
        var env = Env(end: LLVMGetParam(fn, 1)!, counter: LLVMGetParam(fn, UInt32(params.count - 2))!,
                      grain: LLVMGetParam(fn, UInt32(params.count - 1))!)
        for (slot, id) in k.buffers.enumerated() { env.buffers[id] = LLVMGetParam(fn, UInt32(slot + 2))! }
        // Scratch: one 64-byte-aligned block per call (so per thread), freed on return.
        let i8p = m.pointer(LLVMInt8TypeInContext(m.context))
        let alloc = m.externFunction("aligned_alloc", returns: i8p, [m.i64, m.i64])
        let free = m.externFunction("free", returns: m.void, [i8p])
        var blocks: [LLVMValueRef] = []
        for s in k.scratch {
            let raw = m.call(alloc, [m.int(64), m.int((s.elements * 4 + 63) / 64 * 64)])
            blocks.append(raw)
            env.buffers[s.id] = LLVMBuildBitCast(m.builder, raw, fp, "")
        }
        let toStart = LLVMBuildBr(m.builder, start)!
        env.allocaPoint = toStart
        m.position(at: start)
        var ctx = Context(m: m, fn: fn, math: VectorMath(m: m, width: 1), matmuls: matmuls)
        try ctx.emit(k.body, &env, topLevel: true)
        for raw in blocks { _ = m.call(free, [raw]) }
        LLVMBuildRetVoid(m.builder)
    }

    struct Env {
        /// One past the last iteration of the top-level parallel loop.
        var end: LLVMValueRef
        /// Where the top-level parallel loop takes its next run of iterations from.
        var counter: LLVMValueRef
        /// Iterations per grab from the counter.
        var grain: LLVMValueRef
        var buffers: [Int: LLVMValueRef] = [:]
        var ints: [String: LLVMValueRef] = [:]
        var floats: [String: LLVMValueRef] = [:]  // allocas
        var allocaPoint: LLVMValueRef?
    }

    struct Context {
        let m: Module
        let fn: LLVMValueRef
        let math: VectorMath
        let matmuls: TileMatmulEmitter
        var b: LLVMBuilderRef { m.builder }

        mutating func emit(_ stmts: [KStmt], _ env: inout Env, topLevel: Bool = false) throws {
            for s in stmts {
                switch s {
                case .loop(let v, _, let parallel, let body) where parallel && topLevel:
                    // Runs of `grain` iterations are taken from the counter (see the type's
                    // comment); each run is an ordinary loop, so it vectorizes as before.
                    let grab = m.block(fn, "\(v).grab"), run = m.block(fn, "\(v).run"), exit = m.block(fn, "\(v).exit")
                    let header = m.block(fn, "\(v).head"), bodyBlock = m.block(fn, "\(v).body")
                    LLVMBuildBr(b, grab)
                    m.position(at: grab)
                    let first = LLVMBuildAtomicRMW(b, LLVMAtomicRMWBinOpAdd, env.counter, env.grain, LLVMAtomicOrderingMonotonic, 0)!
                    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, first, env.end, "")!, run, exit)
                    m.position(at: run)
                    let stop = LLVMBuildAdd(b, first, env.grain, "")!
                    let hi = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, stop, env.end, "")!, stop, env.end, "")!
                    LLVMBuildBr(b, header)
                    m.position(at: header)
                    let i = LLVMBuildPhi(b, m.i64, v)!
                    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, hi, "")!, bodyBlock, grab)
                    m.position(at: bodyBlock)
                    var inner = env
                    inner.ints[v] = i
                    try emit(body, &inner)
                    env.floats = env.floats.merging(inner.floats) { a, _ in a }
                    let next = LLVMBuildAdd(b, i, m.int(1), "")!
                    let latch = LLVMGetInsertBlock(b)!
                    LLVMBuildBr(b, header)
                    var vals: [LLVMValueRef?] = [first, next], blocks: [LLVMBasicBlockRef?] = [run, latch]
                    LLVMAddIncoming(i, &vals, &blocks, 2)
                    m.position(at: exit)
                case .loop(let v, let count, let parallel, let body):
                    var inner = env
                    let back = try countedLoop(v, try int(count, env)) { i in
                        inner.ints[v] = i
                        try emit(body, &inner)
                    }
                    env.floats = env.floats.merging(inner.floats) { a, _ in a }
                    if !parallel, LoopHints.hasTranscendental(body) {
                        LoopHints.limitInterleave(back, count: LoopHints.transcendentalInterleave, context: m.context)
                    }
                case .letInt(let v, let e):
                    env.ints[v] = try int(e, env)
                case .variable(let v, let e):
                    let cur = LLVMGetInsertBlock(b)!
                    LLVMPositionBuilderBefore(b, env.allocaPoint)
                    let slot = LLVMBuildAlloca(b, m.f32, v)!
                    LLVMPositionBuilderAtEnd(b, cur)
                    env.floats[v] = slot
                    m.store(try float(e, env), slot)
                case .assign(let v, let e):
                    guard let slot = env.floats[v] else { throw CodegenError("kernel assigns undeclared variable %\(v)") }
                    m.store(try float(e, env), slot)
                case .store(let buf, let i, let e):
                    m.store(try float(e, env), m.gep(try buffer(buf, env), try int(i, env)))
                case .prefetch(let buf, let i, let write):
                    m.prefetch(m.gep(try buffer(buf, env), try int(i, env)), write: write)
                case .transpose(let t):
                    try emitTranspose(t, &env)
                case .ifThen(let c, let body):
                    let then = m.block(fn, "then"), join = m.block(fn, "join")
                    LLVMBuildCondBr(b, try cond(c, env), then, join)
                    m.position(at: then)
                    var inner = env
                    try emit(body, &inner)
                    env.floats = env.floats.merging(inner.floats) { a, _ in a }
                    LLVMBuildBr(b, join)
                    m.position(at: join)
                case .matmul(let t):
                    func known(_ e: KExpr) -> Int? { if case .int(let v) = e { return v }; return nil }
                    if let p = t.bPanels, p.width % matmuls.tile.nr != 0 {
                        throw CodegenError("matmul into %b\(t.c): B packed in panels of \(p.width) columns, but this target's micro-kernel tile is \(matmuls.tile.nr) wide (lower for the target: Lowering.lower(_:target:))")
                    }
                    let strides = TileMatmulEmitter.Strides(aRow: known(t.aRowStride), aCol: known(t.aColStride),
                                                            ldb: t.bPanels?.width ?? known(t.ldb), ldc: known(t.ldc))
                    // perTile: emitted inside the driver before each row-tile call; `tile` counts the
                    // calls in a stack slot that this matmul statement resets.
                    var hookError: Error?
                    let counter: LLVMValueRef? = t.perTile.isEmpty ? nil : {
                        let cur = LLVMGetInsertBlock(b)!
                        LLVMPositionBuilderBefore(b, env.allocaPoint)
                        let slot = LLVMBuildAlloca(b, m.i64, "tile")!
                        LLVMPositionBuilderAtEnd(b, cur)
                        m.store(m.int(0), slot)
                        return slot
                    }()
                    let hookEnv = env
                    func hook(_ tiles: LLVMValueRef) {
                        guard let slot = counter else { return }
                        let tile = LLVMBuildLoad2(b, m.i64, slot, "tile")!
                        var inner = hookEnv
                        inner.ints["tile"] = tile
                        inner.ints["tiles"] = tiles
                        do { try emit(t.perTile, &inner) } catch { hookError = hookError ?? error }
                        m.store(LLVMBuildAdd(b, tile, m.int(1), "")!, slot)
                    }
                    try withoutActuallyEscaping(hook) { perTileHook in
                        let perTile: ((LLVMValueRef) -> Void)? = counter == nil ? nil : perTileHook
                        matmuls.emitCall(fn: fn, mCount: try int(t.m, env), n: try int(t.n, env), k: try int(t.k, env),
                                         a: m.gep(try buffer(t.a, env), try int(t.aOffset, env)),
                                         aRow: try int(t.aRowStride, env), aCol: try int(t.aColStride, env),
                                         b: m.gep(try buffer(t.b, env), try int(t.bOffset, env)),
                                         ldb: try t.bPanels.map { m.int($0.width) } ?? int(t.ldb, env),
                                         c: m.gep(try buffer(t.c, env), try int(t.cOffset, env)), ldc: try int(t.ldc, env),
                                         strides: strides, accumulate: t.accumulate, bPanels: try t.bPanels.map { ($0.width, try int($0.stride, env)) },
                                         epilogue: try t.epilogue.map { e in
                                             TileMatmulEmitter.Epilogue(
                                                 scale: try e.scale.map { m.gep(try buffer($0, env), try int(e.scaleOffset, env)) },
                                                 shift: try e.shift.map { m.gep(try buffer($0, env), try int(e.shiftOffset, env)) },
                                                 activation: e.activation)
                                         }, perTile: perTile)
                    }
                    if let hookError { throw hookError }
                }
            }
        }

        /// for i in 0..<count { body(i) }, built directly in LLVM IR; returns the back edge (for
        /// loop metadata).
        @discardableResult
        func countedLoop(_ name: String, _ count: LLVMValueRef, _ body: (LLVMValueRef) throws -> Void) rethrows -> LLVMValueRef {
            let pre = LLVMGetInsertBlock(b)!
            let header = m.block(fn, "\(name).head"), bodyBlock = m.block(fn, "\(name).body"), exit = m.block(fn, "\(name).exit")
            LLVMBuildBr(b, header)
            m.position(at: header)
            let i = LLVMBuildPhi(b, m.i64, name)!
            LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, count, "")!, bodyBlock, exit)
            m.position(at: bodyBlock)
            try body(i)
            let next = LLVMBuildAdd(b, i, m.int(1), "")!
            let latch = LLVMGetInsertBlock(b)!
            let back = LLVMBuildBr(b, header)!
            var vals: [LLVMValueRef?] = [m.int(0), next], blocks: [LLVMBasicBlockRef?] = [pre, latch]
            LLVMAddIncoming(i, &vals, &blocks, 2)
            m.position(at: exit)
            return back
        }

        func buffer(_ id: Int, _ env: Env) throws -> LLVMValueRef {
            guard let p = env.buffers[id] else { throw CodegenError("kernel uses buffer %b\(id) it does not declare") }
            return p
        }

        func int(_ e: KExpr, _ env: Env) throws -> LLVMValueRef {
            switch e {
            case .int(let v): return m.int(v)
            case .ivar(let v):
                guard let x = env.ints[v] else { throw CodegenError("kernel uses undefined integer %\(v)") }
                return x
            case .iop(let op, let a, let c):
                let (x, y) = (try int(a, env), try int(c, env))
                switch op {
                case .add: return LLVMBuildAdd(b, x, y, "")!
                case .sub: return LLVMBuildSub(b, x, y, "")!
                case .mul: return LLVMBuildMul(b, x, y, "")!
                case .div: return LLVMBuildSDiv(b, x, y, "")!
                case .rem: return LLVMBuildSRem(b, x, y, "")!
                case .min: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, "")!, x, y, "")!
                case .max: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, x, y, "")!, x, y, "")!
                }
            case .loadInt(let buf, let i):
                let p = LLVMBuildBitCast(b, try buffer(buf, env), m.pointer(m.i32), "")!
                let v = m.load(m.i32, m.gep(p, try int(i, env), m.i32))
                return LLVMBuildSExt(b, v, m.i64, "")!
            default:
                throw CodegenError("kernel expression \(e) is not an integer")
            }
        }

        func float(_ e: KExpr, _ env: Env) throws -> LLVMValueRef {
            switch e {
            case .float(let v): return m.float(v)
            case .fvar(let v):
                guard let slot = env.floats[v] else { throw CodegenError("kernel uses undefined variable %\(v)") }
                return m.load(m.f32, slot)
            case .load(let buf, let i): return m.load(m.f32, m.gep(try buffer(buf, env), try int(i, env)))
            case .toFloat(let a): return LLVMBuildSIToFP(b, try int(a, env), m.f32, "")!
            case .select(let c, let x, let y): return LLVMBuildSelect(b, try cond(c, env), try float(x, env), try float(y, env), "")!
            case .fop(.add, .fop(.mul, let x, let y), let z), .fop(.add, let z, .fop(.mul, let x, let y)):
                // a·b + c contracts to one FMA (what C compilers do with -ffp-contract=on).
                return math.fma(try float(x, env), try float(y, env), try float(z, env))
            case .fop(let op, let a, let c):
                let (x, y) = (try float(a, env), try float(c, env))
                switch op {
                case .add: return math.add(x, y)
                case .sub: return math.sub(x, y)
                case .mul: return math.mul(x, y)
                case .div: return math.div(x, y)
                case .max: return math.maximum(x, y)
                case .min: return math.minimum(x, y)
                }
            case .call(let f, let a):
                return math.apply(f, try float(a, env))
            default:
                throw CodegenError("kernel expression \(e) is not a float")
            }
        }

        func cond(_ c: KCond, _ env: Env) throws -> LLVMValueRef {
            switch c {
            case .ilt(let x, let y): return LLVMBuildICmp(b, LLVMIntSLT, try int(x, env), try int(y, env), "")!
            case .ige(let x, let y): return LLVMBuildICmp(b, LLVMIntSGE, try int(x, env), try int(y, env), "")!
            case .flt(let x, let y): return LLVMBuildFCmp(b, LLVMRealOLT, try float(x, env), try float(y, env), "")!
            case .and(let x, let y): return LLVMBuildAnd(b, try cond(x, env), try cond(y, env), "")!
            }
        }
    }
}
