internal import CLLVM

extension AOTCompiler {
    /// Emits `NAME_run`: validate counts, pointers and sizes; malloc the arena (laid out by the
    /// memory plan); copy arguments and constants in; run every step single-threaded; copy
    /// results out; free.
    func emitEntry(_ m: Module) throws {
        let b = m.builder
        let i8p = m.pointer(LLVMInt8TypeInContext(m.context))
        let fp = m.pointer(m.f32)
        let fn = m.function(symbol, returns: m.i32, [m.i64, m.pointer(i8p), m.pointer(m.i64), m.i64, m.pointer(fp), m.pointer(m.i64)])
        let mallocFn = m.externFunction("malloc", returns: i8p, [m.i64]).0
        let freeFn = m.externFunction("free", returns: m.void, [i8p]).0
        let memcpyID = LLVMLookupIntrinsicID("llvm.memcpy", 11)
        var mtypes: [LLVMTypeRef?] = [i8p, i8p, m.i64]
        let memcpy = mtypes.withUnsafeMutableBufferPointer { LLVMGetIntrinsicDeclaration(m.module, memcpyID, $0.baseAddress, 3)! }
        let memcpyTy = mtypes.withUnsafeMutableBufferPointer { LLVMIntrinsicGetType(m.context, memcpyID, $0.baseAddress, 3)! }
        func copyBytes(_ dst: LLVMValueRef, _ src: LLVMValueRef, _ bytes: Int) {
            _ = m.call((memcpy, memcpyTy), [LLVMBuildBitCast(b, dst, i8p, "")!, LLVMBuildBitCast(b, src, i8p, "")!, m.int(bytes), LLVMConstInt(m.i1, 0, 0)])
        }
        func fail(unless ok: LLVMValueRef, code: Int32) {
            let pass = m.block(fn, "ok"), bad = m.block(fn, "fail\(code)")
            LLVMBuildCondBr(b, ok, pass, bad)
            m.position(at: bad)
            LLVMBuildRet(b, LLVMConstInt(m.i32, UInt64(code), 0))
            m.position(at: pass)
        }
        func param(_ i: UInt32) -> LLVMValueRef { LLVMGetParam(fn, i)! }
        func element(_ base: LLVMValueRef, _ i: Int, _ type: LLVMTypeRef) -> LLVMValueRef { m.load(type, m.gep(base, m.int(i), type), align: 8) }
        func notNull(_ p: LLVMValueRef) -> LLVMValueRef { LLVMBuildIsNotNull(b, p, "")! }

        m.position(at: m.block(fn, "entry"))
        let args = program.argumentBuffers, results = program.resultBuffers
        fail(unless: LLVMBuildICmp(b, LLVMIntEQ, param(0), m.int(args.count), "")!, code: 1)
        fail(unless: LLVMBuildICmp(b, LLVMIntEQ, param(3), m.int(results.count), "")!, code: 1)
        if !args.isEmpty {
            fail(unless: LLVMBuildAnd(b, notNull(param(1)), notNull(param(2)), "")!, code: 2)
            for (i, buf) in args.enumerated() {
                fail(unless: notNull(element(param(1), i, i8p)), code: 2)
                fail(unless: LLVMBuildICmp(b, LLVMIntEQ, element(param(2), i, m.i64), m.int(program.buffers[buf].elements), "")!, code: 3)
            }
        }
        fail(unless: LLVMBuildAnd(b, notNull(param(4)), notNull(param(5)), "")!, code: 2)
        for (i, buf) in results.enumerated() {
            fail(unless: notNull(element(param(4), i, fp)), code: 2)
            fail(unless: LLVMBuildICmp(b, LLVMIntEQ, element(param(5), i, m.i64), m.int(program.buffers[buf].elements), "")!, code: 4)
        }
        let plan = MemoryPlan(program)
        var mallocArgs: [LLVMValueRef?] = [m.int(max(plan.arenaBytes, 64))]
        let raw = mallocArgs.withUnsafeMutableBufferPointer { LLVMBuildCall2(b, LLVMGlobalGetValueType(mallocFn), mallocFn, $0.baseAddress, 1, "arena")! }
        fail(unless: notNull(raw), code: 5)
        let arena = LLVMBuildBitCast(b, raw, fp, "")!
        func pointer(_ buf: Int) -> LLVMValueRef { m.gep(arena, m.int(plan.offsets[buf] / 4)) }
        for (i, buf) in args.enumerated() { copyBytes(pointer(buf), element(param(1), i, i8p), program.buffers[buf].elements * 4) }
        for (i, buf) in program.buffers.enumerated() {
            guard let c = buf.constant else { continue }
            // i32 constants (ids) are stored as integers, as kernels load them.
            var elems: [LLVMValueRef?] = buf.isInt ? c.map { LLVMConstInt(m.i32, UInt64(UInt32(bitPattern: Int32($0))), 0) } : c.map { m.float($0) }
            let arr = elems.withUnsafeMutableBufferPointer { LLVMConstArray(buf.isInt ? m.i32 : m.f32, $0.baseAddress, UInt32(c.count))! }
            let g = LLVMAddGlobal(m.module, LLVMTypeOf(arr), "\(cName)_const\(i)")!
            LLVMSetInitializer(g, arr)
            LLVMSetGlobalConstant(g, 1)
            LLVMSetLinkage(g, LLVMPrivateLinkage)
            copyBytes(pointer(i), g, c.count * 4)
        }
        try emitSteps(program.steps, m, fn, pointer, copyBytes)
        for (i, buf) in results.enumerated() { copyBytes(element(param(4), i, fp), pointer(buf), program.buffers[buf].elements * 4) }
        var freeArgs: [LLVMValueRef?] = [raw]
        _ = freeArgs.withUnsafeMutableBufferPointer { LLVMBuildCall2(b, LLVMGlobalGetValueType(freeFn), freeFn, $0.baseAddress, 1, "") }
        LLVMBuildRet(b, LLVMConstInt(m.i32, 0, 0))
    }

    private func emitSteps(_ steps: [KernelStep], _ m: Module, _ fn: LLVMValueRef, _ pointer: (Int) -> LLVMValueRef,
                           _ copyBytes: (LLVMValueRef, LLVMValueRef, Int) -> Void) throws {
        let b = m.builder
        let fp = m.pointer(m.f32)
        for s in steps {
            switch s {
            case .kernel(let k):
                // Allocas go in the entry block so a repeat loop does not grow the stack.
                let here = LLVMGetInsertBlock(b)!
                LLVMPositionBuilderBefore(b, LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(fn)))
                let table = LLVMBuildArrayAlloca(b, fp, m.int(max(k.buffers.count, 1)), "table")!
                LLVMPositionBuilderAtEnd(b, here)
                for (slot, buf) in k.buffers.enumerated() { m.store(pointer(buf), m.gep(table, m.int(slot), fp), align: 8) }
                let callee = LLVMGetNamedFunction(m.module, k.name)!
                var callArgs: [LLVMValueRef?] = [m.int(0), m.int(k.parallelCount), table]
                _ = callArgs.withUnsafeMutableBufferPointer { LLVMBuildCall2(b, LLVMGlobalGetValueType(callee), callee, $0.baseAddress, 3, "") }
            case .gemm:
                throw CodegenError("internal: GEMM steps are replaced by kernels before AOT emission")
            case .repeatSteps(let count, let inner, let carry):
                let pre = LLVMGetInsertBlock(b)!
                let head = m.block(fn, "rep.head"), body = m.block(fn, "rep.body"), exit = m.block(fn, "rep.exit")
                LLVMBuildBr(b, head)
                m.position(at: head)
                let i = LLVMBuildPhi(b, m.i64, "rep")!
                LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i, m.int(count), "")!, body, exit)
                m.position(at: body)
                try emitSteps(inner, m, fn, pointer, copyBytes)
                for (from, to, n) in carry { copyBytes(pointer(to), pointer(from), n * 4) }
                let next = LLVMBuildAdd(b, i, m.int(1), "")!
                let latch = LLVMGetInsertBlock(b)!
                LLVMBuildBr(b, head)
                var vals: [LLVMValueRef?] = [m.int(0), next], blocks: [LLVMBasicBlockRef?] = [pre, latch]
                LLVMAddIncoming(i, &vals, &blocks, 2)
                m.position(at: exit)
            }
        }
    }
}
