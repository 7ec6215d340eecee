internal import CLLVM

/// Loop metadata the kernel emitter attaches to loops whose body evaluates transcendentals.
///
/// Left alone, LLVM vectorizes such a loop, then unrolls the loops around it as well: for a
/// body with a transcendental (GELU: a division, a 10-term polynomial and an exp per vector,
/// with ~20 constants live) that runs out of the 32 vector registers and spills to the stack.
/// Unrolling is turned off and the vector loop interleaved 4 deep, which measured best on
/// the ConvNeXt block (1, 2, 4 and 8 tried; 8 spills again).
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
        func string(_ text: String) -> LLVMMetadataRef { text.withCString { LLVMMDStringInContext2(context, $0, text.utf8.count)! } }
        func node(_ operands: [LLVMMetadataRef?]) -> LLVMMetadataRef {
            var ops = operands
            return ops.withUnsafeMutableBufferPointer { LLVMMDNodeInContext2(context, $0.baseAddress, $0.count)! }
        }
        let value = LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(context), UInt64(count), 0))!
        let interleave = node([string("llvm.loop.interleave.count"), value])
        let noUnroll = node([string("llvm.loop.unroll.disable")])
        // A loop ID is a node whose first operand is itself: build it around a placeholder.
        var none: [LLVMMetadataRef?] = []
        let placeholder = none.withUnsafeMutableBufferPointer { LLVMTemporaryMDNode(context, $0.baseAddress, 0)! }
        let loopID = node([placeholder, interleave, noUnroll])
        LLVMMetadataReplaceAllUsesWith(placeholder, loopID)
        let kind = "llvm.loop".withCString { LLVMGetMDKindIDInContext(context, $0, 9) }
        LLVMSetMetadata(branch, kind, LLVMMetadataAsValue(context, loopID))
    }
}
