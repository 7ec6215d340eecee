import Foundation

/// Keeps freed scratch memory in the process heap.
///
/// A fused kernel allocates its per-thread scratch (packed weights, rings of rows) with
/// `aligned_alloc` on every call and frees it on return. glibc serves blocks above its mmap
/// threshold with fresh mappings and trims freed memory back to the system, so every call
/// page-faulted its scratch in again: 2,058 faults (8 MiB of packed weights) per call of the
/// FFN block, 4 of its 9 ms at 64 tokens. Raising both thresholds once per process lets the
/// next call reuse the same pages. (A program linking Kiln's AOT output can do the same.)
enum ScratchMemory {
    static let configured: Bool = {
        // mallopt is in <malloc.h>, which Swift's Glibc module does not import: look it up.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 256 << 20)
        _ = mallopt(trimThreshold, 1 << 30)
        return true
    }()
}
