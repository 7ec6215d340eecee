internal import CLLVM
import Foundation

/// The CPU Kiln generates code for: triple, CPU name and feature string, as LLVM sees them.
///
/// `host` is this machine. Other targets (say AVX2-only `haswell`) can be built for
/// testing and for AOT output; the vector width follows the features, never assumed.
public struct HostTarget: Sendable, Hashable, CustomStringConvertible {
    public let triple: String
    public let cpu: String
    public let features: String

    /// This machine, from `LLVMGetHostCPUName` / `LLVMGetHostCPUFeatures`.
    public static let host: HostTarget = {
        LLVMSetup.ensure()
        return HostTarget(cpu: takeMessage(LLVMGetHostCPUName()), features: takeMessage(LLVMGetHostCPUFeatures()))
    }()

    /// An AVX2 + FMA machine without AVX-512 (Haswell), to test the 8-wide path anywhere.
    public static let avx2 = HostTarget(cpu: "haswell", features: "+avx2,+fma,+avx,+f16c,-avx512f")

    public init(cpu: String, features: String, triple: String? = nil) {
        LLVMSetup.ensure()
        self.triple = triple ?? takeMessage(LLVMGetDefaultTargetTriple())
        self.cpu = cpu
        self.features = features
    }

    func has(_ feature: String) -> Bool { features.split(separator: ",").contains { $0 == "+" + feature } }

    /// Floats per SIMD register: 16 with AVX-512, 8 with AVX/AVX2, else 4.
    /// Columns of a packed B panel: the GEMM micro-kernel's tile width (NR), so every row tile
    /// reads whole panels, one 64-byte line per K step on AVX2.
    public var panelWidth: Int { GemmTile.forTarget(self).nr }

    public var vectorWidth: Int {
        if has("avx512f") { return 16 }
        if has("avx2") || has("avx") || cpu == "haswell" { return 8 }
        return 4
    }

    public var description: String { "\(triple) cpu=\(cpu) vector=\(vectorWidth)x f32" }

    /// A fresh target machine (the JIT consumes one; passes and emission use another).
    func makeTargetMachine(reloc: LLVMRelocMode = LLVMRelocPIC, codeModel: LLVMCodeModel = LLVMCodeModelDefault) throws -> LLVMTargetMachineRef {
        var target: LLVMTargetRef?
        var err: UnsafeMutablePointer<CChar>?
        guard LLVMGetTargetFromTriple(triple, &target, &err) == 0, let target else {
            throw CodegenError("no LLVM target for \(triple): \(takeMessage(err))")
        }
        guard let tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive, reloc, codeModel) else {
            throw CodegenError("cannot create a target machine for \(self)")
        }
        return tm
    }
}

/// One-time LLVM initialization of the native target, printer and disassembler.
enum LLVMSetup {
    private static let once: Void = {
        LLVMInitializeNativeTarget()
        LLVMInitializeNativeAsmPrinter()
        LLVMInitializeNativeDisassembler()
    }()
    static func ensure() { _ = once }
}
