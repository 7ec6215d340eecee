internal import CLLVM

/// Loop metadata: on the kernel emitter's loops whose body evaluates transcendentals, and on
/// the K loop of `TileMatmul`'s row kernels (`rowKernelUnroll`).
///
/// Left alone, LLVM vectorizes such a loop, then unrolls the loops around it as well: for a
/// body with a transcendental (GELU: a division, an 8-term polynomial and an exp per vector,
/// with ~17 constants live) that runs out of the 32 vector registers and spills to the stack.
/// Unrolling is turned off and the vector loop interleaved 4 deep, which measured best on
/// the ConvNeXt block (1, 2, 4 and 8 tried; 8 spills again). With the cheaper GELU of
/// session 18, 8 was mixed (ConvNeXt 0.97-0.98 at 2 threads but 1.02 at 1, InceptionNeXt
/// 0.99-1.03) and 1 lost 3-9%.
enum LoopHints {
    static let transcendentalInterleave = 4

    /// Whether any expression under `stmts` calls a transcendental.
    static func hasTranscendental(_ stmts: [KStmt]) -> Bool {
        stmts.contains { s in
            switch s {
            case .loop(_, _, _, let body), .ifThen(_, let body): return hasTranscendental(body)
            case .letInt: return false
            case .variable(_, let e), .assign(_, let e): return hasTranscendental(e)
            case .store(_, _, let e): return hasTranscendental(e)
            case .matmul, .prefetch, .transpose: return false
            }
        }
    }

    static func hasTranscendental(_ e: KExpr) -> Bool {
        switch e {
        case .int, .float, .ivar, .fvar, .load, .loadInt, .toFloat: return false
        case .iop: return false
        case .fop(_, let a, let b): return hasTranscendental(a) || hasTranscendental(b)
        case .call(let fn, let a): return isTranscendental(fn) || hasTranscendental(a)
        case .select(_, let a, let b): return hasTranscendental(a) || hasTranscendental(b)
        }
    }

    static func isTranscendental(_ fn: MathFn) -> Bool {
        switch fn {
        case .exp, .exp_nonpositive, .log, .tanh, .sigmoid, .logsigmoid, .gelu, .gelu_tanh, .silu, .softplus, .erf: return true
        case .neg, .sqrt, .rsqrt, .relu, .relu6, .abs, .step: return false
        }
    }

    /// Marks the loop whose latch is `branch` with `llvm.loop.interleave.count = count` and
    /// `llvm.loop.unroll.disable` (unrolling an enclosing loop spills the same way).
    static func limitInterleave(_ branch: LLVMValueRef, count: Int, context: LLVMContextRef) {
        attach(branch, [("llvm.loop.interleave.count", count), ("llvm.loop.unroll.disable", nil)], context: context)
    }

    /// How many times the register-blocked row kernels of `TileMatmul` unroll their K loop.
    /// Left to itself LLVM unrolls it 16 times, and at 12 accumulators plus the B vectors that
    /// spills registers to the stack and multiplies the code: a chunkwise linear-attention
    /// kernel inlines some 20 of these loops. 4 (and 8) measured 6-10% faster than 16 on a Zen 3
    /// for the GLA forward and backward and the FFN, ResNet and MobileNetV2 blocks, and equal
    /// for ConvNeXt (`kiln run --ab-env`, 40-60 alternating rounds); 2 gained about half as much.
    static let rowKernelUnroll = 4

    /// Marks the loop whose latch is `branch` with `llvm.loop.unroll.count = count`.
    static func unroll(_ branch: LLVMValueRef, count: Int, context: LLVMContextRef) {
        attach(branch, [("llvm.loop.unroll.count", count)], context: context)
    }

    /// Attaches a loop ID holding `hints` (a name and an optional i32 each) to the latch `branch`.
    private static func attach(_ branch: LLVMValueRef, _ hints: [(String, Int?)], context: LLVMContextRef) {
        func string(_ text: String) -> LLVMMetadataRef { text.withCString { LLVMMDStringInContext2(context, $0, text.utf8.count)! } }
        func node(_ operands: [LLVMMetadataRef?]) -> LLVMMetadataRef {
            var ops = operands
            return ops.withUnsafeMutableBufferPointer { LLVMMDNodeInContext2(context, $0.baseAddress, $0.count)! }
        }
        let entries = hints.map { name, value in
            node([string(name)] + (value.map { [LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(context), UInt64($0), 0))!] } ?? []))
        }
        // A loop ID is a node whose first operand is itself: build it around a placeholder.
        var none: [LLVMMetadataRef?] = []
        let placeholder = none.withUnsafeMutableBufferPointer { LLVMTemporaryMDNode(context, $0.baseAddress, 0)! }
        let loopID = node([placeholder] + entries)
        LLVMMetadataReplaceAllUsesWith(placeholder, loopID)
        let kind = "llvm.loop".withCString { LLVMGetMDKindIDInContext(context, $0, 9) }
        LLVMSetMetadata(branch, kind, LLVMMetadataAsValue(context, loopID))
    }
}
