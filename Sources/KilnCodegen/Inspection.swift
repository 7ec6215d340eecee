import Foundation

/// LLVM IR, assembly and object code for textual IR, for `kiln dump --emit llvm|asm`,
/// tests and ahead-of-time output. Nothing here touches a JIT.
public enum CodegenInspection {
    /// `ir` after verification and (unless `optLevel` is 0) the `default<On>` pipeline.
    public static func llvmIR(_ ir: String, target: HostTarget = .host, optLevel: Int = 3) throws -> String {
        try prepared(ir, target: target, optLevel: optLevel).llvmIR
    }

    /// Assembly text for `target` (AT&T syntax).
    public static func assembly(_ ir: String, target: HostTarget = .host, optLevel: Int = 3) throws -> String {
        try prepared(ir, target: target, optLevel: optLevel).emitAssembly()
    }

    /// A position-independent ELF object for `target`.
    public static func object(_ ir: String, target: HostTarget = .host, optLevel: Int = 3) throws -> [UInt8] {
        try prepared(ir, target: target, optLevel: optLevel).emitObject()
    }

    private static func prepared(_ ir: String, target: HostTarget, optLevel: Int) throws -> Module {
        let m = try Module(parsing: ir, name: "inspect", target: target)
        try m.verify()
        if optLevel > 0 { try m.optimize(level: optLevel) }
        return m
    }
}
