import Foundation

extension Executable {
    /// Arenas of at least this many bytes are backed by transparent huge pages.
    static let hugePageArenaBytes = 4 << 20

    /// Allocates the arena. A large arena is 2 MiB aligned and advised to use transparent huge
    /// pages: kernels such as the chunkwise linear attention walk a head's rows 2 KB apart in
    /// [B,T,H,D] operands, so with 4 KB pages every other row is a new page, each a TLB miss
    /// that also stalls the software prefetches meant to hide the first touch.
    static func allocateArena(bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= hugePageArenaBytes else { return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        let huge = 2 << 20
        let rounded = (bytes + huge - 1) / huge * huge
        let p = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: huge)
        // Advisory only: without THP support (or with it off) the arena keeps 4 KB pages.
        _ = madvise(p, rounded, 14 /* MADV_HUGEPAGE */)
        return p
    }
}
