internal import CLLVM

/// An LLVM module under construction, owning its thread-safe context until handed to the JIT.
///
/// A thin layer over the C API so kernel emitters read as what they build; no C type
/// escapes KilnCodegen.
final class Module {
    let target: HostTarget
    private(set) var tsc: LLVMOrcThreadSafeContextRef?
    let context: LLVMContextRef
    private(set) var module: LLVMModuleRef?
    let builder: LLVMBuilderRef

    init(name: String, target: HostTarget) throws {
        self.target = target
        tsc = LLVMOrcCreateNewThreadSafeContext()
        context = LLVMOrcThreadSafeContextGetContext(tsc)
        module = LLVMModuleCreateWithNameInContext(name, context)
        builder = LLVMCreateBuilderInContext(context)
        LLVMSetTarget(module, target.triple)
        let tm = try target.makeTargetMachine()
        let layout = LLVMCreateTargetDataLayout(tm)
        LLVMSetModuleDataLayout(module, layout)
        LLVMDisposeTargetData(layout)
        LLVMDisposeTargetMachine(tm)
    }

    deinit {
        LLVMDisposeBuilder(builder)
        if let module { LLVMDisposeModule(module) }
        if let tsc { LLVMOrcDisposeThreadSafeContext(tsc) }
    }

    // Types
    var f32: LLVMTypeRef { LLVMFloatTypeInContext(context) }
    var i64: LLVMTypeRef { LLVMInt64TypeInContext(context) }
    var i32: LLVMTypeRef { LLVMInt32TypeInContext(context) }
    var i1: LLVMTypeRef { LLVMInt1TypeInContext(context) }
    var void: LLVMTypeRef { LLVMVoidTypeInContext(context) }
    func vector(_ n: Int) -> LLVMTypeRef { LLVMVectorType(f32, UInt32(n)) }
    func pointer(_ t: LLVMTypeRef) -> LLVMTypeRef { LLVMPointerType(t, 0) }

    // Constants
    func int(_ v: Int) -> LLVMValueRef { LLVMConstInt(i64, UInt64(bitPattern: Int64(v)), 1) }
    func int32(_ v: Int32) -> LLVMValueRef { LLVMConstInt(i32, UInt64(bitPattern: Int64(v)), 1) }
    func float(_ v: Float) -> LLVMValueRef { LLVMConstReal(f32, Double(v)) }

    /// Declares a function with `noalias` pointer parameters where asked.
    func function(_ name: String, returns: LLVMTypeRef, _ params: [LLVMTypeRef], noalias: [Int] = []) -> LLVMValueRef {
        var ps: [LLVMTypeRef?] = params
        let type = ps.withUnsafeMutableBufferPointer { LLVMFunctionType(returns, $0.baseAddress, UInt32(params.count), 0) }
        let f = LLVMAddFunction(module, name, type)!
        let kind = LLVMGetEnumAttributeKindForName("noalias", 7)
        for i in noalias { LLVMAddAttributeAtIndex(f, UInt32(i + 1), LLVMCreateEnumAttribute(context, kind, 0)) }
        let width = String(target.vectorWidth * 32)
        LLVMAddAttributeAtIndex(f, LLVMAttributeIndex(truncatingIfNeeded: LLVMAttributeFunctionIndex),
                                LLVMCreateStringAttribute(context, "prefer-vector-width", 19, width, UInt32(width.utf8.count)))
        return f
    }

    /// An external C function (libc), declared once per module.
    func externFunction(_ name: String, returns: LLVMTypeRef, _ params: [LLVMTypeRef]) -> (LLVMValueRef, LLVMTypeRef) {
        var ps: [LLVMTypeRef?] = params
        let type = ps.withUnsafeMutableBufferPointer { LLVMFunctionType(returns, $0.baseAddress, UInt32(params.count), 0)! }
        return (LLVMGetNamedFunction(module, name) ?? LLVMAddFunction(module, name, type)!, type)
    }

    /// `llvm.prefetch` of the float at `address` into L2 (locality 2), data cache.
    func prefetch(_ address: LLVMValueRef, write: Bool = false) {
        let i8p = pointer(LLVMInt8TypeInContext(context))
        let intrinsic = externFunction("llvm.prefetch.p0i8", returns: void, [i8p, i32, i32, i32])
        _ = call(intrinsic, [LLVMBuildBitCast(builder, address, i8p, "")!, int32(write ? 1 : 0), int32(2), int32(1)])
    }

    func block(_ f: LLVMValueRef, _ name: String) -> LLVMBasicBlockRef { LLVMAppendBasicBlockInContext(context, f, name) }
    func position(at b: LLVMBasicBlockRef) { LLVMPositionBuilderAtEnd(builder, b) }

    /// `llvm.<name>` specialized for `type` (e.g. fmuladd on <16 x float>).
    func intrinsic(_ name: String, _ type: LLVMTypeRef) -> (LLVMValueRef, LLVMTypeRef) {
        intrinsic(name, [type])
    }

    /// An intrinsic overloaded on several types (e.g. masked.load on the vector and its pointer).
    func intrinsic(_ name: String, _ overloads: [LLVMTypeRef]) -> (LLVMValueRef, LLVMTypeRef) {
        let id = LLVMLookupIntrinsicID(name, name.utf8.count)
        var types: [LLVMTypeRef?] = overloads
        let n = overloads.count
        let decl = types.withUnsafeMutableBufferPointer { LLVMGetIntrinsicDeclaration(module, id, $0.baseAddress, n)! }
        let fnType = types.withUnsafeMutableBufferPointer { LLVMIntrinsicGetType(context, id, $0.baseAddress, n)! }
        return (decl, fnType)
    }

    func call(_ fn: (LLVMValueRef, LLVMTypeRef), _ args: [LLVMValueRef], _ name: String = "") -> LLVMValueRef {
        var a: [LLVMValueRef?] = args
        return a.withUnsafeMutableBufferPointer { LLVMBuildCall2(builder, fn.1, fn.0, $0.baseAddress, UInt32(args.count), name)! }
    }

    /// Pointer to element `index` of a float array.
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

    /// Bitcast a float pointer to a vector pointer (LLVM 14 has typed pointers).
    func vectorPointer(_ p: LLVMValueRef, _ width: Int) -> LLVMValueRef {
        LLVMBuildBitCast(builder, p, pointer(vector(width)), "")
    }

    /// A vector with every lane equal to `scalar`.
    func splat(_ scalar: LLVMValueRef, _ width: Int, elementType: LLVMTypeRef? = nil) -> LLVMValueRef {
        let undef = LLVMGetUndef(LLVMVectorType(elementType ?? f32, UInt32(width)))
        let one = LLVMBuildInsertElement(builder, undef, scalar, LLVMConstInt(i32, 0, 0), "")
        return LLVMBuildShuffleVector(builder, one, undef, LLVMConstNull(LLVMVectorType(i32, UInt32(width))), "")
    }

    /// Checks the module, returning LLVM's complaint as an error.
    func verify() throws {
        var msg: UnsafeMutablePointer<CChar>?
        if LLVMVerifyModule(module, LLVMReturnStatusAction, &msg) != 0 {
            throw CodegenError("invalid LLVM IR: \(takeMessage(msg))")
        }
        LLVMDisposeMessage(msg)
    }

    /// Runs LLVM's O3 pipeline with this target's machine (vectorizers need its cost model).
    func optimize() throws {
        let tm = try target.makeTargetMachine()
        defer { LLVMDisposeTargetMachine(tm) }
        let opts = LLVMCreatePassBuilderOptions()
        defer { LLVMDisposePassBuilderOptions(opts) }
        LLVMPassBuilderOptionsSetLoopVectorization(opts, 1)
        LLVMPassBuilderOptionsSetSLPVectorization(opts, 1)
        LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1)
        try check(LLVMRunPasses(module, "default<O3>", tm, opts), "optimizing")
    }

    /// The module as LLVM IR text.
    var irText: String { takeMessage(LLVMPrintModuleToString(module)) }

    /// Assembly or an object file for this target, from a clone (codegen mutates the module).
    func emit(assembly: Bool) throws -> [UInt8] {
        let tm = try target.makeTargetMachine()
        defer { LLVMDisposeTargetMachine(tm) }
        let clone = LLVMCloneModule(module)
        defer { LLVMDisposeModule(clone) }
        var err: UnsafeMutablePointer<CChar>?
        var buf: LLVMMemoryBufferRef?
        guard LLVMTargetMachineEmitToMemoryBuffer(tm, clone, assembly ? LLVMAssemblyFile : LLVMObjectFile, &err, &buf) == 0, let buf else {
            throw CodegenError("emitting \(assembly ? "assembly" : "object code"): \(takeMessage(err))")
        }
        defer { LLVMDisposeMemoryBuffer(buf) }
        let start = LLVMGetBufferStart(buf)!, size = LLVMGetBufferSize(buf)
        return start.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
    }

    /// Hands the module and its context over (to the JIT); this object no longer owns them.
    func release() -> (LLVMModuleRef, LLVMOrcThreadSafeContextRef) {
        defer { module = nil; tsc = nil }
        return (module!, tsc!)
    }
}
