internal import CLLVM
import Foundation

/// An ORC LLJIT for one target. Each added module gets its own resource tracker, so a
/// failing or discarded kernel never affects the others. Symbols of the process (libm,
/// OpenBLAS) resolve through a process-symbol generator.
///
/// With `KILN_PERF_JITDUMP=1` in the environment, compiled code is also described to perf
/// (LLVM's jitdump listener writes ~/.debug/jit/llvm-IR-jit-*/jit-PID.dump): record with
/// `perf record -k 1`, then `perf inject --jit` gives every kernel and row kernel its name and
/// its exact machine code for `perf report` and `perf annotate`.
public final class JIT: @unchecked Sendable {
    public let target: HostTarget
    private let jit: LLVMOrcLLJITRef
    private let lock = NSLock()  // LLVM contexts and the JIT session are not thread-safe.
    /// Session errors LLVM reports asynchronously (e.g. "Symbols not found: [ f ]").
    private let reports = SessionReports()

    public init(target: HostTarget = .host) throws {
        self.target = target
        let tm = try target.makeTargetMachine(reloc: LLVMRelocDefault, codeModel: LLVMCodeModelJITDefault)
        let jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm)  // consumes tm
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb)          // consumes jtmb
        var jit: LLVMOrcLLJITRef?
        try check(LLVMOrcCreateLLJIT(&jit, builder), "creating the JIT")       // consumes builder
        guard let jit else { throw CodegenError("creating the JIT returned nothing") }
        self.jit = jit
        var gen: LLVMOrcDefinitionGeneratorRef?
        try check(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit), nil, nil),
                  "creating the process symbol generator")
        LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), gen)     // consumes gen
        // LLJIT on x86-64 ELF links with RTDyld in LLVM 14, so its object layer takes listeners.
        if ProcessInfo.processInfo.environment["KILN_PERF_JITDUMP"] == "1", let perf = LLVMCreatePerfJITEventListener() {
            LLVMOrcRTDyldObjectLinkingLayerRegisterJITEventListener(LLVMOrcLLJITGetObjLinkingLayer(jit), perf)
        }
        // Route session errors into the next thrown error instead of stderr.
        LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(jit), { ctx, err in
            guard let ctx, let err else { return }
            let box = Unmanaged<SessionReports>.fromOpaque(ctx).takeUnretainedValue()
            let cmsg = LLVMGetErrorMessage(err)
            box.append(cmsg.map { String(cString: $0) } ?? "unknown error")
            if let cmsg { LLVMDisposeErrorMessage(cmsg) }
        }, Unmanaged.passUnretained(reports).toOpaque())
    }

    deinit {
        if let err = LLVMOrcDisposeLLJIT(jit) { LLVMConsumeError(err) }
    }

    /// Compiles `module` (taking ownership) and returns a handle that keeps its code alive.
    func add(_ module: Module) throws -> CompiledCode {
        lock.lock()
        defer { lock.unlock() }
        let dylib = LLVMOrcLLJITGetMainJITDylib(jit)
        let tracker = LLVMOrcJITDylibCreateResourceTracker(dylib)!
        let (mod, tsc) = module.release()
        let tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc)!  // takes the module
        LLVMOrcDisposeThreadSafeContext(tsc)                   // the TSM keeps the context alive
        // LLVM 14 takes the module even when adding fails, so it is not disposed here
        // (doing so, as the usual recipe says, is a double free).
        if let err = LLVMOrcLLJITAddLLVMIRModuleWithRT(jit, tracker, tsm) {
            LLVMOrcReleaseResourceTracker(tracker)
            try check(err, "adding a module to the JIT")
        }
        return CompiledCode(jit: self, tracker: tracker)
    }

    /// The address of a compiled function; throws when it or anything it needs is missing.
    func address(of name: String) throws -> UnsafeRawPointer {
        lock.lock()
        defer { lock.unlock() }
        var addr: LLVMOrcExecutorAddress = 0
        _ = reports.drain()
        do { try check(LLVMOrcLLJITLookup(jit, &addr, name), "looking up '\(name)'") } catch {
            let detail = reports.drain()
            let base = (error as? CodegenError)?.message ?? "\(error)"
            throw CodegenError(base + (detail.isEmpty ? "" : " (" + detail.joined(separator: "; ") + ")"))
        }
        guard let p = UnsafeRawPointer(bitPattern: UInt(addr)) else { throw CodegenError("'\(name)' has a null address") }
        return p
    }

    fileprivate func remove(_ tracker: LLVMOrcResourceTrackerRef) {
        lock.lock()
        defer { lock.unlock() }
        if let err = LLVMOrcResourceTrackerRemove(tracker) { LLVMConsumeError(err) }
        LLVMOrcReleaseResourceTracker(tracker)
    }
}

/// Machine code owned by a JIT; freed when this handle goes away.
public final class CompiledCode: @unchecked Sendable {
    let jit: JIT
    private let tracker: LLVMOrcResourceTrackerRef

    fileprivate init(jit: JIT, tracker: LLVMOrcResourceTrackerRef) {
        self.jit = jit
        self.tracker = tracker
    }

    deinit { jit.remove(tracker) }

    /// The address of a function in this code.
    public func address(of name: String) throws -> UnsafeRawPointer { try jit.address(of: name) }
}

/// Thread-safe list of messages from LLVM's session error reporter.
final class SessionReports: @unchecked Sendable {
    private var messages: [String] = []
    private let lock = NSLock()
    func append(_ m: String) { lock.lock(); messages.append(m); lock.unlock() }
    func drain() -> [String] { lock.lock(); defer { messages = []; lock.unlock() }; return messages }
}
