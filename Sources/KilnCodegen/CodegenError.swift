internal import CLLVM

/// Any failure in code generation or JIT compilation, with LLVM's own message.
public struct CodegenError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "codegen: \(message)" }
}

/// Consumes an `LLVMErrorRef`, throwing its message when it is an error.
func check(_ err: LLVMErrorRef?, _ context: String) throws {
    guard let err else { return }
    let cmsg = LLVMGetErrorMessage(err)  // consumes err
    let msg = cmsg.map { String(cString: $0) } ?? "unknown LLVM error"
    if let cmsg { LLVMDisposeErrorMessage(cmsg) }
    throw CodegenError("\(context): \(msg)")
}

/// Copies and frees an LLVM-owned message.
func takeMessage(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    defer { LLVMDisposeMessage(p) }
    return String(cString: p)
}
