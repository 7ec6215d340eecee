import Foundation
import KilnIR

/// The machine code of a `KernelProgram`: every kernel JIT-compiled in one module (one
/// resource tracker), plus the texts `kiln dump --emit llvm|asm` prints.
public final class CompiledProgram: @unchecked Sendable {
    public typealias KernelFn = @convention(c) (Int64, Int64, UnsafeMutablePointer<UnsafeMutablePointer<Float>?>) -> Void

    public let program: KernelProgram
    public let target: HostTarget
    let code: CompiledCode?
    /// Kernel name -> entry point.
    public let functions: [String: KernelFn]
    public let llvmIR: String
    public let assembly: String
    /// Seconds spent building, optimizing and JIT-compiling.
    public let compileSeconds: Double

    public init(_ program: KernelProgram, target: HostTarget = .host, jit: JIT? = nil, emitAssembly: Bool = false) throws {
        let start = Date()
        self.program = program
        self.target = target
        let kernels = program.allKernels
        guard !kernels.isEmpty else {
            code = nil
            functions = [:]
            llvmIR = ""
            assembly = ""
            compileSeconds = 0
            return
        }
        let module = try Module(name: program.name, target: target)
        let emitter = KernelEmitter(m: module)
        for k in kernels { try emitter.emit(k) }
        try module.verify()
        try module.optimize()
        llvmIR = module.irText
        assembly = emitAssembly ? String(decoding: try module.emit(assembly: true), as: UTF8.self) : ""
        let code = try (jit ?? JIT(target: target)).add(module)
        var fns: [String: KernelFn] = [:]
        for k in kernels { fns[k.name] = unsafeBitCast(try code.address(of: k.name), to: KernelFn.self) }
        self.code = code
        functions = fns
        compileSeconds = Date().timeIntervalSince(start)
    }
}

extension KernelProgram {
    /// Every kernel, including those inside repeat loops.
    public var allKernels: [KernelFunction] {
        func walk(_ steps: [KernelStep]) -> [KernelFunction] {
            steps.flatMap { s -> [KernelFunction] in
                switch s {
                case .kernel(let k): return [k]
                case .gemm: return []
                case .repeatSteps(_, let inner, _): return walk(inner)
                }
            }
        }
        return walk(steps)
    }
}
