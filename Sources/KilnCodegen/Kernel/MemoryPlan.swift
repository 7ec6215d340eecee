import KilnIR

/// Where each buffer lives: offsets into one 64-byte-aligned arena. Temporaries and outputs
/// share space when their lifetimes (first to last step that touches them) do not overlap;
/// inputs, parameters and constants get their own slots.
public struct MemoryPlan: Sendable {
    /// Byte offset of every buffer in the arena.
    public let offsets: [Int]
    /// Arena size: the peak of simultaneously live bytes under this plan.
    public let arenaBytes: Int
    /// What the arena would be without reuse, for comparison.
    public let unplannedBytes: Int

    public init(_ p: KernelProgram) {
        let n = p.buffers.count
        var first = [Int](repeating: Int.max, count: n), last = [Int](repeating: -1, count: n)
        func touch(_ b: Int, _ step: Int) { first[b] = min(first[b], step); last[b] = max(last[b], step) }
        func buffers(of s: KernelStep) -> [Int] {
            switch s {
            case .kernel(let k): return k.buffers
            case .gemm(let g): return [g.a, g.b, g.c]
            case .repeatSteps(_, let inner, let carry): return inner.flatMap(buffers) + carry.flatMap { [$0.0, $0.1] }
            }
        }
        for (i, s) in p.steps.enumerated() { for b in buffers(of: s) { touch(b, i) } }
        let end = p.steps.count
        for r in p.resultBuffers { touch(r, end) }
        // Scratch buffers live in the kernel that allocates them, not in the arena.
        func size(_ b: Int) -> Int { p.buffers[b].role == .scratch ? 0 : (p.buffers[b].elements * 4 + 63) / 64 * 64 }
        var offsets = [Int](repeating: 0, count: n)
        var placed: [(lo: Int, hi: Int, first: Int, last: Int)] = []
        var top = 0
        // Fixed buffers first, then the rest largest first (first-fit over live intervals).
        let fixed = (0..<n).filter { ![.temp, .output, .scratch].contains(p.buffers[$0].role) }
        for b in fixed {
            offsets[b] = top
            placed.append((top, top + size(b), Int.min, Int.max))
            top += size(b)
        }
        let movable = (0..<n).filter { !fixed.contains($0) && last[$0] >= 0 }.sorted { size($0) > size($1) }
        for b in movable {
            let conflicts = placed.filter { $0.first <= last[b] && first[b] <= $0.last }.sorted { $0.lo < $1.lo }
            var at = 0
            for c in conflicts where c.lo < at + size(b) {
                if c.hi > at { at = c.hi }
            }
            offsets[b] = at
            placed.append((at, at + size(b), first[b], last[b]))
            top = max(top, at + size(b))
        }
        self.offsets = offsets
        arenaBytes = top
        unplannedBytes = (0..<n).reduce(0) { $0 + size($1) }
    }
}
