import Foundation

/// Options that change generated code, part of every cache key.
public struct CompileOptions: Hashable, Sendable, CustomStringConvertible {
    /// LLVM pipeline level: 0 = no optimization (only verification), 1...3 = `default<On>`.
    public var optLevel: Int
    public init(optLevel: Int = 3) { self.optLevel = optLevel }
    public var description: String { "O\(optLevel)" }
}

/// Compiled kernels keyed by (IR hash, CPU, features, options), so a graph compiled twice
/// for the same machine and options is JIT-compiled once. The IR text is kept and compared
/// on a hit, so a hash collision can only cost a recompilation, never wrong code.
public final class CompileCache: @unchecked Sendable {
    public struct Key: Hashable, Sendable {
        public let irHash: UInt64
        public let cpu: String
        public let features: String
        public let options: CompileOptions
    }

    public let jit: JIT
    private var entries: [Key: (ir: String, code: CompiledCode)] = [:]
    private let lock = NSLock()
    public private(set) var hits = 0
    public private(set) var misses = 0

    public init(jit: JIT) { self.jit = jit }

    public var count: Int { lock.lock(); defer { lock.unlock() }; return entries.count }

    /// The key `ir` would be stored under on this cache's target.
    public func key(for ir: String, options: CompileOptions = CompileOptions()) -> Key {
        Key(irHash: fnv1a64(ir), cpu: jit.target.cpu, features: jit.target.features, options: options)
    }

    /// The compiled code for `ir`, compiling (and remembering) it on a miss.
    public func compile(ir: String, name: String = "kernel", options: CompileOptions = CompileOptions()) throws -> CompiledCode {
        let key = key(for: ir, options: options)
        lock.lock()
        defer { lock.unlock() }
        if let hit = entries[key], hit.ir == ir {
            hits += 1
            return hit.code
        }
        misses += 1
        let module = try Module(parsing: ir, name: name, target: jit.target)
        try module.verify()
        if options.optLevel > 0 { try module.optimize(level: options.optLevel) }
        let code = try jit.add(module)
        entries[key] = (ir, code)
        return code
    }

    /// Forgets every entry (their machine code is freed once no caller holds it).
    public func removeAll() { lock.lock(); entries = [:]; lock.unlock() }
}

/// 64-bit FNV-1a over UTF-8 bytes: stable across runs and processes (unlike `Hasher`).
func fnv1a64(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}
