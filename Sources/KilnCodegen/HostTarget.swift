internal import CLLVM
import Foundation

/// The CPU Kiln generates code for: LLVM triple, CPU name and feature string.
///
/// `HostTarget.host` is this machine as LLVM sees it (`LLVMGetHostCPUName`,
/// `LLVMGetHostCPUFeatures`). Any other CPU and feature set can be named explicitly, e.g.
/// `HostTarget.avx2` (Haswell, no AVX-512) to test the 8-wide code path on an AVX-512 machine
/// or to emit objects for another machine. The SIMD width always follows the features; it is
/// never assumed.
public struct HostTarget: Sendable, Hashable, CustomStringConvertible {
    public let triple: String
    public let cpu: String
    /// Comma-separated LLVM features, e.g. "+avx2,+fma,-avx512f".
    public let features: String

    /// This machine.
    public static let host: HostTarget = {
        LLVMSetup.ensure()
        return HostTarget(cpu: takeMessage(LLVMGetHostCPUName()), features: takeMessage(LLVMGetHostCPUFeatures()))
    }()

    /// An AVX2 + FMA machine without AVX-512 (Haswell).
    public static let avx2 = HostTarget(
        cpu: "haswell",
        features: "+avx2,+fma,+avx,+f16c,+bmi,+bmi2,+popcnt,+sse4.2,-avx512f,-avx512bw,-avx512dq,-avx512vl,-avx512cd")

    public init(cpu: String, features: String, triple: String? = nil) {
        LLVMSetup.ensure()
        self.triple = triple ?? takeMessage(LLVMGetDefaultTargetTriple())
        self.cpu = cpu
        self.features = features
    }

    /// Whether the feature string enables `feature` (e.g. "avx512f").
    public func has(_ feature: String) -> Bool {
        features.split(separator: ",").contains { $0.hasPrefix("+") && $0.dropFirst() == feature }
    }

    /// Floats per SIMD register: 16 with AVX-512F, 8 with AVX/AVX2, else 4 (SSE).
    public var vectorWidth: Int {
        if has("avx512f") { return 16 }
        if has("avx2") || has("avx") { return 8 }
        return 4
    }

    /// Whether fused multiply-add instructions exist (`llvm.fmuladd` becomes one instruction).
    public var hasFMA: Bool { has("fma") || has("avx512f") }

    public var description: String { "\(triple) cpu=\(cpu) vector=\(vectorWidth) x f32" }

    /// A stable string for cache keys.
    var cacheKey: String { "\(triple)|\(cpu)|\(features)" }

    /// A fresh target machine. The JIT consumes one; passes and emission each use their own.
    func makeTargetMachine(reloc: LLVMRelocMode = LLVMRelocPIC,
                           codeModel: LLVMCodeModel = LLVMCodeModelDefault) throws -> LLVMTargetMachineRef {
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

/// One-time initialization of LLVM's native target, assembly printer and disassembler.
enum LLVMSetup {
    private static let once: Void = {
        LLVMInitializeNativeTarget()
        LLVMInitializeNativeAsmPrinter()
        LLVMInitializeNativeAsmParser()
        LLVMInitializeNativeDisassembler()
    }()
    static func ensure() { _ = once }
}
