internal import CLLVM
import Foundation

/// An LLVM module under construction, owning its thread-safe context until the JIT takes it.
///
/// A thin layer over the C API so kernel emitters read as what they build. Internal: no LLVM
/// C type leaves KilnCodegen. Not thread-safe (an LLVMContext is not); build one module per
/// thread.
final class Module {
    let target: HostTarget
    let name: String
    private(set) var tsc: LLVMOrcThreadSafeContextRef?
    let context: LLVMContextRef
    private(set) var module: LLVMModuleRef?
    let builder: LLVMBuilderRef

    /// An empty module for `target` (triple and data layout set from its target machine).
    init(name: String, target: HostTarget) throws {
        self.target = target
        self.name = name
        tsc = LLVMOrcCreateNewThreadSafeContext()
        context = LLVMOrcThreadSafeContextGetContext(tsc)
        module = LLVMModuleCreateWithNameInContext(name, context)
        builder = LLVMCreateBuilderInContext(context)
        try setTargetAndLayout()
    }

    /// A module parsed from textual LLVM IR; the triple and data layout are set to `target`'s.
    init(parsing ir: String, name: String, target: HostTarget) throws {
        self.target = target
        self.name = name
        tsc = LLVMOrcCreateNewThreadSafeContext()
        context = LLVMOrcThreadSafeContextGetContext(tsc)
        builder = LLVMCreateBuilderInContext(context)
        let buffer = ir.withCString { LLVMCreateMemoryBufferWithMemoryRangeCopy($0, strlen($0), name)! }
        var parsed: LLVMModuleRef?
        var msg: UnsafeMutablePointer<CChar>?
        if LLVMParseIRInContext(context, buffer, &parsed, &msg) != 0 {  // consumes the buffer
            // Every stored property is set, so deinit runs and frees the builder and context.
            throw CodegenError("parsing LLVM IR '\(name)': \(takeMessage(msg))")
        }
        module = parsed
        try setTargetAndLayout()
    }

    private func setTargetAndLayout() throws {
        LLVMSetTarget(module, target.triple)
        let tm = try target.makeTargetMachine()
        defer { LLVMDisposeTargetMachine(tm) }
        let layout = LLVMCreateTargetDataLayout(tm)
        LLVMSetModuleDataLayout(module, layout)
        LLVMDisposeTargetData(layout)
    }

    deinit {
        LLVMDisposeBuilder(builder)
        if let module { LLVMDisposeModule(module) }
        if let tsc { LLVMOrcDisposeThreadSafeContext(tsc) }
    }

    // MARK: Types and constants

    var f32: LLVMTypeRef { LLVMFloatTypeInContext(context) }
    var i64: LLVMTypeRef { LLVMInt64TypeInContext(context) }
    var i32: LLVMTypeRef { LLVMInt32TypeInContext(context) }
    var i8: LLVMTypeRef { LLVMInt8TypeInContext(context) }
    var i1: LLVMTypeRef { LLVMInt1TypeInContext(context) }
    var void: LLVMTypeRef { LLVMVoidTypeInContext(context) }
    func vector(_ n: Int, of element: LLVMTypeRef? = nil) -> LLVMTypeRef { LLVMVectorType(element ?? f32, UInt32(n)) }
    func pointer(_ t: LLVMTypeRef) -> LLVMTypeRef { LLVMPointerType(t, 0) }

    func int(_ v: Int) -> LLVMValueRef { LLVMConstInt(i64, UInt64(bitPattern: Int64(v)), 1) }
    func int32(_ v: Int) -> LLVMValueRef { LLVMConstInt(i32, UInt64(bitPattern: Int64(v)), 1) }
    func float(_ v: Float) -> LLVMValueRef { LLVMConstReal(f32, Double(v)) }

    // MARK: Functions and blocks

    /// Adds a function; `noalias` lists pointer parameters that never alias each other.
    /// Every function prefers this target's full vector width (LLVM otherwise picks 256-bit
    /// vectors on AVX-512 machines when it auto-vectorizes).
    func function(_ name: String, returns: LLVMTypeRef, _ params: [LLVMTypeRef], noalias: [Int] = [],
                  isInternal: Bool = false) -> LLVMValueRef {
        var ps: [LLVMTypeRef?] = params
        let type = ps.withUnsafeMutableBufferPointer { LLVMFunctionType(returns, $0.baseAddress, UInt32(params.count), 0) }
        let f = LLVMAddFunction(module, name, type)!
        let kind = LLVMGetEnumAttributeKindForName("noalias", 7)
        for i in noalias { LLVMAddAttributeAtIndex(f, UInt32(i + 1), LLVMCreateEnumAttribute(context, kind, 0)) }
        addStringAttribute(f, "prefer-vector-width", String(target.vectorWidth * 32))
        if isInternal { LLVMSetLinkage(f, LLVMInternalLinkage) }
        return f
    }

    func addStringAttribute(_ f: LLVMValueRef, _ key: String, _ value: String) {
        LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(truncatingIfNeeded: LLVMAttributeFunctionIndex),
                                LLVMCreateStringAttribute(context, key, UInt32(key.utf8.count), value, UInt32(value.utf8.count)))
    }

    func addEnumAttribute(_ f: LLVMValueRef, _ key: String) {
        let kind = LLVMGetEnumAttributeKindForName(key, key.utf8.count)
        LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(truncatingIfNeeded: LLVMAttributeFunctionIndex),
                                LLVMCreateEnumAttribute(context, kind, 0))
    }

    func block(_ f: LLVMValueRef, _ name: String) -> LLVMBasicBlockRef { LLVMAppendBasicBlockInContext(context, f, name) }
    func position(at b: LLVMBasicBlockRef) { LLVMPositionBuilderAtEnd(builder, b) }
    var currentBlock: LLVMBasicBlockRef { LLVMGetInsertBlock(builder) }

    /// `llvm.<name>` overloaded on `types` (e.g. llvm.fmuladd on <16 x float>).
    func intrinsic(_ name: String, _ types: [LLVMTypeRef]) -> (LLVMValueRef, LLVMTypeRef) {
        let id = LLVMLookupIntrinsicID(name, name.utf8.count)
        precondition(id != 0, "unknown intrinsic \(name)")
        var ts: [LLVMTypeRef?] = types
        let decl = ts.withUnsafeMutableBufferPointer { LLVMGetIntrinsicDeclaration(module, id, $0.baseAddress, types.count)! }
        let fnType = ts.withUnsafeMutableBufferPointer { LLVMIntrinsicGetType(context, id, $0.baseAddress, types.count)! }
        return (decl, fnType)
    }

    /// A function of this module (or a declaration) with its type, for `call`.
    func callee(_ f: LLVMValueRef) -> (LLVMValueRef, LLVMTypeRef) { (f, LLVMGlobalGetValueType(f)) }

    @discardableResult
    func call(_ fn: (LLVMValueRef, LLVMTypeRef), _ args: [LLVMValueRef], _ name: String = "") -> LLVMValueRef {
        var a: [LLVMValueRef?] = args
        return a.withUnsafeMutableBufferPointer { LLVMBuildCall2(builder, fn.1, fn.0, $0.baseAddress, UInt32(args.count), name)! }
    }

    // MARK: Memory

    /// Pointer to element `index` of an array of `elem` (default f32).
    func gep(_ base: LLVMValueRef, _ index: LLVMValueRef, _ elem: LLVMTypeRef? = nil) -> LLVMValueRef {
        var idx: [LLVMValueRef?] = [index]
        return idx.withUnsafeMutableBufferPointer { LLVMBuildInBoundsGEP2(builder, elem ?? f32, base, $0.baseAddress, 1, "")! }
    }

    func load(_ type: LLVMTypeRef, _ ptr: LLVMValueRef, align: UInt32 = 4) -> LLVMValueRef {
        let v = LLVMBuildLoad2(builder, type, ptr, "")!
        LLVMSetAlignment(v, align)
        return v
    }

    func store(_ value: LLVMValueRef, _ ptr: LLVMValueRef, align: UInt32 = 4) {
        LLVMSetAlignment(LLVMBuildStore(builder, value, ptr), align)
    }

    /// A float pointer seen as a pointer to `<width x float>` (LLVM 14 has typed pointers).
    func vectorPointer(_ p: LLVMValueRef, _ width: Int) -> LLVMValueRef {
        LLVMBuildBitCast(builder, p, pointer(vector(width)), "")
    }

    /// A vector with every lane equal to `scalar`.
    func splat(_ scalar: LLVMValueRef, _ width: Int) -> LLVMValueRef {
        let undef = LLVMGetUndef(vector(width))
        let one = LLVMBuildInsertElement(builder, undef, scalar, int32(0), "")
        return LLVMBuildShuffleVector(builder, one, undef, LLVMConstNull(vector(width, of: i32)), "")
    }

    /// Integer arithmetic and comparisons on i64.
    func add(_ a: LLVMValueRef, _ b: LLVMValueRef) -> LLVMValueRef { LLVMBuildAdd(builder, a, b, "")! }
    func mul(_ a: LLVMValueRef, _ b: LLVMValueRef) -> LLVMValueRef { LLVMBuildMul(builder, a, b, "")! }
    func icmp(_ op: LLVMIntPredicate, _ a: LLVMValueRef, _ b: LLVMValueRef) -> LLVMValueRef { LLVMBuildICmp(builder, op, a, b, "")! }

    /// A phi of `type` whose incoming values are added later with `incoming`.
    func phi(_ type: LLVMTypeRef, _ name: String = "") -> LLVMValueRef { LLVMBuildPhi(builder, type, name)! }
    func incoming(_ phi: LLVMValueRef, _ pairs: [(LLVMValueRef, LLVMBasicBlockRef)]) {
        var vals: [LLVMValueRef?] = pairs.map { $0.0 }
        var blocks: [LLVMBasicBlockRef?] = pairs.map { $0.1 }
        LLVMAddIncoming(phi, &vals, &blocks, UInt32(pairs.count))
    }

    // MARK: Checking, optimizing, emitting

    /// Runs LLVM's verifier; its complaint becomes the thrown error.
    func verify() throws {
        var msg: UnsafeMutablePointer<CChar>?
        let bad = LLVMVerifyModule(module, LLVMReturnStatusAction, &msg) != 0
        let text = takeMessage(msg)
        if bad { throw CodegenError("invalid LLVM IR in '\(name)': \(text)") }
    }

    /// Runs the `default<O3>` pipeline with this target's machine (the vectorizers need its
    /// cost model; with no target machine nothing is vectorized).
    func optimize(level: Int = 3) throws {
        let tm = try target.makeTargetMachine()
        defer { LLVMDisposeTargetMachine(tm) }
        let opts = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(opts) }
        LLVMPassBuilderOptionsSetLoopVectorization(opts, 1)
        LLVMPassBuilderOptionsSetSLPVectorization(opts, 1)
        LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1)
        try check(LLVMRunPasses(module, "default<O\(level)>", tm, opts), "optimizing '\(name)'")
    }

    /// The module as LLVM IR text.
    var llvmIR: String { takeMessage(LLVMPrintModuleToString(module)) }

    /// Assembly text for this target (from a clone: code generation mutates the module).
    func emitAssembly() throws -> String {
        String(decoding: try emit(LLVMAssemblyFile), as: UTF8.self)
    }

    /// An ELF relocatable object (position independent) for this target.
    func emitObject() throws -> [UInt8] { try emit(LLVMObjectFile) }

    private func emit(_ kind: LLVMCodeGenFileType) throws -> [UInt8] {
        let tm = try target.makeTargetMachine()
        defer { LLVMDisposeTargetMachine(tm) }
        let clone = LLVMCloneModule(module)
        defer { LLVMDisposeModule(clone) }
        var err: UnsafeMutablePointer<CChar>?
        var buf: LLVMMemoryBufferRef?
        guard LLVMTargetMachineEmitToMemoryBuffer(tm, clone, kind, &err, &buf) == 0, let buf else {
            throw CodegenError("emitting code for '\(name)': \(takeMessage(err))")
        }
        defer { LLVMDisposeMemoryBuffer(buf) }
        guard let start = LLVMGetBufferStart(buf) else { return [] }
        let size = LLVMGetBufferSize(buf)
        return start.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
    }

    /// Hands the module and its context over (to the JIT); this object no longer owns them.
    func release() -> (LLVMModuleRef, LLVMOrcThreadSafeContextRef) {
        defer { module = nil; tsc = nil }
        return (module!, tsc!)
    }
}
