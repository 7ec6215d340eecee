import Foundation
import KilnIR

/// In-process cache of compiled programs, keyed by (graph hash, CPU, features, options), so a
/// model compiled twice (same text, same target) is JIT-compiled once.
public final class CompileCache: @unchecked Sendable {
    public static let shared: CompileCache = {
        let cache = CompileCache()
        // For leak checkers (`make test-asan` sets this): Kernel IR trees are indirect enums
        // whose references Swift stores with tag bits in the pointer, which LeakSanitizer
        // cannot follow, so a cached program looks leaked although it is reachable.
        // Emptying the cache before LSan's exit-time scan (atexit runs handlers in reverse
        // order, and LSan's was installed first) releases them; anything still reported is
        // a real leak.
        if ProcessInfo.processInfo.environment["KILN_RELEASE_CACHES_AT_EXIT"] != nil {
            atexit { CompileCache.shared.removeAll() }
        }
        return cache
    }()

    struct Key: Hashable {
        let graph: String   // the canonical printed Graph IR: equal text means equal semantics
        let cpu: String
        let features: String
        let options: String
    }

    private var entries: [Key: CompiledProgram] = [:]
    private let lock = NSLock()
    public private(set) var hits = 0
    public private(set) var misses = 0

    /// The compiled program for `function`, compiling it on a miss.
    public func program(for function: Function, target: HostTarget = .host, options: String = "") throws -> CompiledProgram {
        let key = Key(graph: function.printed(), cpu: target.cpu, features: target.features, options: options)
        lock.lock()
        if let hit = entries[key] {
            hits += 1
            lock.unlock()
            return hit
        }
        lock.unlock()
        var lowered = try Lowering.lower(function, target: target)
        if options.split(separator: ",").contains("tiled-gemms") { lowered = lowered.tilingGemms() }
        let compiled = try CompiledProgram(lowered, target: target)
        lock.lock()
        defer { lock.unlock() }
        misses += 1
        if let raced = entries[key] { return raced }
        entries[key] = compiled
        return compiled
    }

    /// Drops every entry (and so the machine code no executable still holds).
    public func removeAll() {
        lock.lock()
        entries.removeAll()
        lock.unlock()
    }
}
