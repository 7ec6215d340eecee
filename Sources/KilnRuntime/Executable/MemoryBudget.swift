import Foundation
import KilnIR

/// Refuses work that cannot fit in memory before anything is allocated, so an absurd shape
/// (`f32[100000,100000,100]`, 4 TB) is an error naming the byte size rather than a crash or
/// the kernel's OOM killer. Element counts are already capped at 2^40 by
/// `TensorType.validate` (the verifier), so byte sizes here cannot overflow.
public enum MemoryBudget {
    /// Bytes the process may still allocate: `MemAvailable` from /proc/meminfo on Linux,
    /// else physical memory. `KILN_MEMORY_LIMIT` (bytes) overrides it, e.g. for tests.
    public static var availableBytes: Int {
        if let s = ProcessInfo.processInfo.environment["KILN_MEMORY_LIMIT"], let n = Int(s), n > 0 { return n }
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first ?? "") {
            return kb * 1024
        }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// Throws unless `bytes` fit in the available memory; `what` names the allocation.
    public static func check(_ bytes: Int, for what: String, available: Int = MemoryBudget.availableBytes) throws {
        guard bytes <= available else {
            throw RuntimeError("\(what) needs \(bytes) bytes (\(describe(bytes))), more than the \(available) bytes (\(describe(available))) of memory available")
        }
    }

    /// Checks that every single value of `f` (regions included) fits: the smallest amount
    /// any executor must be able to allocate. Cheap, and done before lowering or binding.
    public static func checkValues(of f: Function, available: Int = MemoryBudget.availableBytes) throws {
        var largest: (bytes: Int, name: String, type: TensorType)?
        func walk(_ g: Function) {
            for v in g.values where v.type.byteCount > (largest?.bytes ?? -1) {
                largest = (v.type.byteCount, v.name, v.type)
            }
            for n in g.nodes { for r in n.regions { walk(r) } }
        }
        walk(f)
        if let l = largest {
            try check(l.bytes, for: "@\(f.name): value %\(l.name) (\(l.type))", available: available)
        }
    }

    /// `4.0 TB`-style size for messages.
    public static func describe(_ bytes: Int) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB"]
        var v = Double(bytes), i = 0
        while v >= 1000, i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", v, units[i])
    }
}
