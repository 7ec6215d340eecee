internal import CLLVM

/// A failure in code generation or JIT compilation, carrying LLVM's own message.
public struct CodegenError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "codegen: \(message)" }
}

/// Consumes an `LLVMErrorRef`; throws its message (prefixed by `context`) when it is an error.
func check(_ err: LLVMErrorRef?, _ context: String) throws {
    guard let err else { return }
    throw CodegenError("\(context): \(consumeErrorMessage(err))")
}

/// Takes the message out of an `LLVMErrorRef` (which this consumes).
func consumeErrorMessage(_ err: LLVMErrorRef) -> String {
    guard let cmsg = LLVMGetErrorMessage(err) else { return "unknown LLVM error" }
    defer { LLVMDisposeErrorMessage(cmsg) }
    return String(cString: cmsg)
}

/// Copies and frees an LLVM-allocated message (`LLVMDisposeMessage`).
func takeMessage(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    defer { LLVMDisposeMessage(p) }
    return String(cString: p)
}
