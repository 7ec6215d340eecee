import COpenBLAS
import Dispatch
import Foundation
import KilnCodegen
import KilnIR

/// How an executable runs its ops.
public enum ExecutorKind: String, Sendable, CaseIterable {
    /// Kiln's kernels: JIT-compiled loops and Kiln's GEMM micro-kernel.
    case compiled
    /// The eager-framework baseline: one kernel per op, every intermediate materialized,
    /// GEMMs through OpenBLAS.
    case unfused
}

/// A Graph IR function lowered, JIT-compiled and ready to run many times.
///
/// Every buffer lives in one 64-byte-aligned arena laid out by the memory plan, except that
/// `run` binds f32 inputs and results to the caller's arrays where it can. Inputs are
/// validated (names, dtypes, shapes, embedding ids) before any kernel runs, so JIT'd code
/// only ever sees in-bounds buffers. Not reentrant: one `run` at a time per instance.
public final class Executable: @unchecked Sendable {
    public let function: Function
    public let kind: ExecutorKind
    public let threads: Int
    public let program: KernelProgram
    public let compiled: CompiledProgram
    public let plan: MemoryPlan
    private let arena: UnsafeMutableRawPointer
    private var gemms: [Gemm] = []
    /// The shared tile counter of a multi-threaded kernel call (on its own cache line).
    private let tileCounter: UnsafeMutablePointer<Int64>
    let lock = NSLock()
    /// Which buffers `run` may bind to the caller's arrays (see Executable+Binding.swift).
    let binding: CallerBinding
    /// Buffers bound to caller memory during the current `run`; empty otherwise.
    var bound: [Int: UnsafeMutablePointer<Float>] = [:]

    /// Threads from `KILN_THREADS`, else all cores.
    public static var defaultThreads: Int {
        if let s = ProcessInfo.processInfo.environment["KILN_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    public init(_ function: Function, kind: ExecutorKind = .compiled, threads: Int? = nil, target: HostTarget = .host) throws {
        _ = ScratchMemory.configured
        try function.verify()
        // Before lowering: constants are materialized during lowering, so an absurd shape
        // must be refused here, not after.
        try MemoryBudget.checkValues(of: function)
        self.function = function
        self.kind = kind
        self.threads = max(threads ?? Executable.defaultThreads, 1)
        // The compiled executor runs large GEMMs as Kiln kernels; the unfused one keeps them as
        // OpenBLAS calls (its baseline).
        compiled = try CompileCache.shared.program(for: function, target: target, options: kind == .compiled ? "tiled-gemms" : "")
        program = compiled.program
        plan = MemoryPlan(program)
        binding = CallerBinding(program)
        try MemoryBudget.check(plan.arenaBytes, for: "@\(function.name)'s arena (memory plan)")
        arena = Executable.allocateArena(bytes: max(plan.arenaBytes, 64))
        tileCounter = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64).bindMemory(to: Int64.self, capacity: 1)
        for (i, b) in program.buffers.enumerated() {
            guard let c = b.constant else { continue }
            if b.isInt {
                // i32 constants (ids) are stored as integers, as kernels load them.
                UnsafeMutableRawPointer(pointer(i)).assumingMemoryBound(to: Int32.self).update(from: c.map { Int32($0) }, count: c.count)
            } else {
                pointer(i).update(from: c, count: c.count)
            }
        }
        if kind == .compiled { gemms = try (0..<self.threads).map { _ in try Gemm(target: target) } }
    }

    deinit {
        arena.deallocate()
        tileCounter.deallocate()
    }

    /// Peak bytes of the arena under the memory plan.
    public var peakArenaBytes: Int { plan.arenaBytes }

    func pointer(_ buffer: Int) -> UnsafeMutablePointer<Float> {
        if !bound.isEmpty, let p = bound[buffer] { return p }
        return (arena + plan.offsets[buffer]).assumingMemoryBound(to: Float.self)
    }

    /// Runs with every input and parameter bound by name; returns the results (f32 data).
    ///
    /// An f32 input that no kernel writes is read where the caller's array holds it, and each
    /// f32 result is written straight into the array returned for it: at batch 1 the copies
    /// into and out of the arena took about a tenth of a ConvNeXt block's run. Everything else
    /// is copied through the arena.
    public func run(_ inputs: [String: HostTensor]) throws -> [HostTensor] {
        lock.lock()
        defer { lock.unlock() }
        try Interpreter.validate(function, inputs, checkMemory: false)
        var inPlace: [(buffer: Int, values: [Float])] = []
        for (a, b) in zip(function.arguments, program.argumentBuffers) {
            let t = inputs[function.name(of: a)]!
            if case .f32(let v) = t.data, !v.isEmpty, binding.readOnlyArguments.contains(b), Executable.bindsCallerMemory {
                inPlace.append((b, v))
            } else {
                try stage(t, named: function.name(of: a), into: b)
            }
        }
        if kind == .unfused { openblas_set_num_threads(Int32(threads)) }
        return try withInputs(inPlace[...]) { try runIntoResults() }
    }

    /// Copies every input into its arena slot (for timing the steps alone afterwards).
    func stageInputs(_ inputs: [String: HostTensor]) throws {
        try Interpreter.validate(function, inputs, checkMemory: false)
        for (a, b) in zip(function.arguments, program.argumentBuffers) {
            try stage(inputs[function.name(of: a)]!, named: function.name(of: a), into: b)
        }
    }

    private func stage(_ t: HostTensor, named name: String, into b: Int) throws {
        let dst = pointer(b)
        switch t.data {
        case .f32(let v): dst.update(from: v, count: v.count)
        case .f64(let v): for i in 0..<v.count { dst[i] = Float(v[i]) }
        case .i32(let v):
            if let limit = program.idLimits[b], let bad = v.first(where: { $0 < 0 || Int($0) >= limit }) {
                throw RuntimeError("input '\(name)': id \(bad) is outside the embedding table's \(limit) rows")
            }
            UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Int32.self).update(from: v, count: v.count)
        case .bool(let v): for i in 0..<v.count { dst[i] = v[i] ? 1 : 0 }
        }
    }

    func runSteps(_ steps: [KernelStep]) throws {
        for s in steps {
            switch s {
            case .kernel(let k): runKernel(k)
            case .gemm(let g): runGemm(g)
            case .repeatSteps(let count, let inner, let carry):
                for _ in 0..<count {
                    try runSteps(inner)
                    for (from, to, n) in carry { pointer(to).update(from: pointer(from), count: n) }
                }
            }
        }
    }

    private func runKernel(_ k: KernelFunction) {
        let fn = compiled.functions[k.name]!
        var table: [UnsafeMutablePointer<Float>?] = k.buffers.map { pointer($0) }
        let n = k.parallelCount
        let parts = min(threads, n)
        if parts <= 1 {
            table.withUnsafeMutableBufferPointer { fn(0, Int64(n), $0.baseAddress!) }
            return
        }
        // Every worker takes tiles from one shared counter (the slot after the buffers) until
        // none are left: a worker whose core is busy with something else takes fewer. Tiles are
        // independent, so the results are the same whichever worker runs which tile.
        tileCounter.pointee = 0
        table.append(UnsafeMutableRawPointer(tileCounter).assumingMemoryBound(to: Float.self))
        table.withUnsafeMutableBufferPointer { tp in
            let shared = Shared(tp.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: parts) { _ in fn(-1, Int64(n), shared.p) }
        }
    }

    private func runGemm(_ g: GemmCall) {
        let a = pointer(g.a) + g.aOffset, b = pointer(g.b) + g.bOffset, c = pointer(g.c) + g.cOffset
        if kind == .unfused {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.m), Int32(g.n), Int32(g.k), 1, a, Int32(g.k),
                        b, Int32(g.n), g.accumulate ? 1 : 0, c, Int32(g.n))
            return
        }
        // Split rows of C across threads; each thread has its own packing buffers.
        let parts = min(threads, max(g.m / 32, 1))
        if parts == 1 {
            gemms[0].sgemm(m: g.m, n: g.n, k: g.k, a: a, lda: g.k, b: b, ldb: g.n, c: c, ldc: g.n, accumulate: g.accumulate)
            return
        }
        let gemms = self.gemms
        let (sa, sb, sc) = (Shared(a), Shared(b), Shared(c))
        DispatchQueue.concurrentPerform(iterations: parts) { t in
            let lo = g.m * t / parts, hi = g.m * (t + 1) / parts
            if hi > lo {
                gemms[t].sgemm(m: hi - lo, n: g.n, k: g.k, a: sa.p + lo * g.k, lda: g.k, b: sb.p, ldb: g.n,
                               c: sc.p + lo * g.n, ldc: g.n, accumulate: g.accumulate)
            }
        }
    }
}

/// A pointer handed to worker threads that write disjoint ranges of it.
struct Shared<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
