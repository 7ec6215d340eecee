internal import CLLVM
import Foundation

/// An ORC LLJIT for one target.
///
/// All modules share one JITDylib, so function names must be unique among the live modules of
/// a JIT (a duplicate is a thrown "Duplicate definition" error); release a module's
/// `CompiledCode` to free its names.
///
/// Every module added gets its own resource tracker, so a kernel that fails to link (or is
/// discarded) never affects the others, and its machine code is freed when its
/// `CompiledCode` handle goes away. Symbols of the running process (libm, OpenBLAS, ...)
/// resolve through a process-symbol generator. LLVM's asynchronous session errors (such as
/// "Symbols not found: [ f ]") are collected and attached to the Swift error thrown by the
/// lookup that triggered them, never printed to stderr.
public final class JIT: @unchecked Sendable {
    public let target: HostTarget
    private let jit: LLVMOrcLLJITRef
    /// The LLJIT session is shared mutable state; all calls into it go through this lock.
    private let lock = NSLock()
    private let reports = SessionReports()

    public init(target: HostTarget = .host) throws {
        self.target = target
        let tm = try target.makeTargetMachine(reloc: LLVMRelocDefault, codeModel: LLVMCodeModelJITDefault)
        let jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm)  // consumes tm
        let builder = LLVMOrcCreateLLJITBuilder()
        LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb)          // consumes jtmb
        var jit: LLVMOrcLLJITRef?
        try check(LLVMOrcCreateLLJIT(&jit, builder), "creating the LLJIT")    // consumes builder
        guard let jit else { throw CodegenError("creating the LLJIT returned nothing") }
        self.jit = jit
        var gen: LLVMOrcDefinitionGeneratorRef?
        if let err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit), nil, nil) {
            let message = consumeErrorMessage(err)
            if let e = LLVMOrcDisposeLLJIT(jit) { LLVMConsumeError(e) }
            throw CodegenError("creating the process symbol generator: \(message)")
        }
        LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), gen)     // consumes gen
        LLVMOrcExecutionSessionSetErrorReporter(LLVMOrcLLJITGetExecutionSession(jit), { ctx, err in
            guard let ctx, let err else { return }
            Unmanaged<SessionReports>.fromOpaque(ctx).takeUnretainedValue().append(consumeErrorMessage(err))
        }, Unmanaged.passUnretained(reports).toOpaque())
    }

    deinit {
        if let err = LLVMOrcDisposeLLJIT(jit) { LLVMConsumeError(err) }
    }

    /// Parses textual LLVM IR, verifies it, optionally runs the O3 pipeline for this target and
    /// adds it to the JIT. Throws LLVM's parse or verifier message on bad IR.
    public func compile(ir: String, name: String = "kernel", optimize: Bool = true) throws -> CompiledCode {
        let module = try Module(parsing: ir, name: name, target: target)
        try module.verify()
        if optimize { try module.optimize() }
        return try add(module)
    }

    /// Compiles `module` (taking ownership of it) under a fresh resource tracker.
    func add(_ module: Module) throws -> CompiledCode {
        precondition(module.target == target, "module built for \(module.target), JIT for \(target)")
        lock.lock()
        defer { lock.unlock() }
        let dylib = LLVMOrcLLJITGetMainJITDylib(jit)
        guard let tracker = LLVMOrcJITDylibCreateResourceTracker(dylib) else {
            throw CodegenError("cannot create a resource tracker")
        }
        let (mod, tsc) = module.release()
        let tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc)!  // takes the module
        LLVMOrcDisposeThreadSafeContext(tsc)                   // the TSM keeps the context alive
        // Takes the TSM even when it fails (LLJIT.h: "should not be disposed of or referenced once
        // this function returns"; LLVM 14 wraps it in a unique_ptr first). Disposing it on error,
        // as some examples do, is a double free.
        if let err = LLVMOrcLLJITAddLLVMIRModuleWithRT(jit, tracker, tsm) {
            LLVMOrcReleaseResourceTracker(tracker)
            try check(err, "adding module '\(module.name)' to the JIT")
        }
        return CompiledCode(jit: self, tracker: tracker, name: module.name)
    }

    /// The address of a compiled function (materializing it); throws with LLVM's message
    /// when it, or any symbol its module needs, cannot be found.
    func address(of name: String) throws -> UnsafeRawPointer {
        lock.lock()
        defer { lock.unlock() }
        _ = reports.drain()
        var addr: LLVMOrcExecutorAddress = 0
        if let err = LLVMOrcLLJITLookup(jit, &addr, name) {
            let message = consumeErrorMessage(err)
            let detail = reports.drain()
            throw CodegenError("looking up '\(name)': \(message)" + (detail.isEmpty ? "" : " (" + detail.joined(separator: "; ") + ")"))
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

/// Machine code of one module in a JIT; removed from the JIT when this handle is released.
/// Function pointers obtained from it are valid only while it is alive.
public final class CompiledCode: @unchecked Sendable {
    public let jit: JIT
    public let name: String
    private let tracker: LLVMOrcResourceTrackerRef

    fileprivate init(jit: JIT, tracker: LLVMOrcResourceTrackerRef, name: String) {
        self.jit = jit
        self.tracker = tracker
        self.name = name
    }

    deinit { jit.remove(tracker) }

    /// The address of function `symbol` (its plain IR name; the JIT applies any mangling).
    public func address(of symbol: String) throws -> UnsafeRawPointer { try jit.address(of: symbol) }

    /// The function `symbol` as a C function pointer of type `T`
    /// (e.g. `@convention(c) (Int64) -> Float`). The caller vouches for the signature.
    public func function<T>(_ symbol: String, as type: T.Type) throws -> T {
        unsafeBitCast(try address(of: symbol), to: T.self)
    }
}

/// Messages from LLVM's session error reporter, which may run on any thread.
final class SessionReports: @unchecked Sendable {
    private var messages: [String] = []
    private let lock = NSLock()
    func append(_ m: String) { lock.lock(); messages.append(m); lock.unlock() }
    func drain() -> [String] { lock.lock(); defer { messages = []; lock.unlock() }; return messages }
}
