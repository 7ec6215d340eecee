internal import CLLVM

/// Emits `TileMatmul` statements: a driver loop at the call site over NR-wide column panels
/// and MR-high row tiles, calling register-blocked row kernels emitted once per module.
///
/// Unlike `Gemm`, nothing is packed: a fused kernel multiplies tiles that were just written
/// and are still in L1/L2, so A is read in place with broadcast loads (any strides) and B
/// rows are read as vectors. Column edges use masked loads and stores, so the kernel never
/// touches memory outside the tile. Constant strides are baked into the row kernels, which
/// turns every address into base + displacement.
final class TileMatmulEmitter {
    let m: Module
    let tile: GemmTile
    var rowKernels: [String: LLVMValueRef] = [:]
    /// The call being emitted's per-tile statements (`TileMatmul.perTile`), emitted before each row-tile call.
    private var perTile: (() -> Void)?

    init(m: Module) {
        self.m = m
        tile = GemmTile.forTarget(m.target)
    }

    /// K per block (`GemmTile.kBlock`): a block of B takes 16 KiB, half of L1.
    var kBlock: Int { tile.kBlock }

    /// The largest K run as one block. Splitting a slightly deeper K (MobileNetV2's 144)
    /// buys little L1 and costs a second pass over C with a nearly empty last block.
    var kSingleMax: Int { kBlock + kBlock / 2 }

    /// Row-tile heights: the register-filling one, then powers of two for the remainder.
    var heights: [Int] { [tile.mr] + [8, 4, 2, 1].filter { $0 < tile.mr } }

    /// Strides known when the kernel is built (nil = passed at run time).
    struct Strides: Hashable {
        var aRow: Int?, aCol: Int?, ldb: Int?, ldc: Int?
        var key: String { [aRow, aCol, ldb, ldc].map { $0.map(String.init) ?? "x" }.joined(separator: "_") }
    }

    /// A `TileEpilogue` at the call site: pointers to column 0 of its scale and shift.
    struct Epilogue {
        var scale: LLVMValueRef?, shift: LLVMValueRef?
        var activation: MathFn?
        /// What the row kernel compiles in (the pointers are its arguments).
        var shape: Shape { Shape(scale: scale != nil, shift: shift != nil, activation: activation) }
        struct Shape: Hashable {
            var scale: Bool, shift: Bool, activation: MathFn?
            var key: String { "_e" + (scale ? "s" : "") + (shift ? "t" : "") + (activation?.rawValue ?? "") }
        }
    }

    /// The row kernels one panel needs: by tile height, for each phase of the K blocks. Built
    /// on first use, so a matmul whose K is known to fit one block compiles only `single`.
    final class Family {
        let make: (_ accumulate: Bool, _ withEpilogue: Bool) -> [(LLVMValueRef, LLVMTypeRef)]
        let accumulate: Bool
        init(accumulate: Bool, make: @escaping (Bool, Bool) -> [(LLVMValueRef, LLVMTypeRef)]) {
            self.accumulate = accumulate
            self.make = make
        }
        lazy var first = make(accumulate, false)
        lazy var middle = make(true, false)
        lazy var single = make(accumulate, true)
        lazy var last = make(true, true)
    }

    func family(strides: Strides, accumulate: Bool, epilogue: Epilogue.Shape?, widths: [Int]?) -> Family {
        Family(accumulate: accumulate) { acc, withEpilogue in
            self.heights.map { self.rowKernel(rows: $0, strides: strides, accumulate: acc, epilogue: withEpilogue ? epilogue : nil, widths: widths) }
        }
    }

    /// Emits the driver at the builder's position. Values are i64 and float pointers.
    func emitCall(fn: LLVMValueRef, mCount: LLVMValueRef, n: LLVMValueRef, k: LLVMValueRef,
                  a: LLVMValueRef, aRow: LLVMValueRef, aCol: LLVMValueRef, b: LLVMValueRef, ldb: LLVMValueRef,
                  c: LLVMValueRef, ldc: LLVMValueRef, strides: Strides, accumulate: Bool, bPanels: (width: Int, stride: LLVMValueRef)? = nil,
                  epilogue: Epilogue? = nil, perTile: ((LLVMValueRef) -> Void)? = nil) {
        self.perTile = perTile.map { hook in { hook(self.tileCalls(mCount: mCount, n: n)) } }
        defer { self.perTile = nil }
        let bld = m.builder
        let nr = tile.nr
        let full = family(strides: strides, accumulate: accumulate, epilogue: epilogue?.shape, widths: nil)
        // A ragged last panel of a known width gets kernels with only the vectors it needs.
        var tail: (start: Int, columns: Int)?
        if LLVMIsAConstantInt(n) != nil {
            let columns = Int(LLVMConstIntGetSExtValue(n))
            let r = columns % nr
            if r > 0, vectorWidths(columns: r) != Array(repeating: tile.width, count: nr / tile.width) {
                tail = (columns - r, r)
            }
        }
        // for j0 in stride(0, n, NR), up to the special last panel
        let jEndValue = tail.map { m.int($0.start) } ?? n
        let pre = LLVMGetInsertBlock(bld)!
        let jHead = m.block(fn, "mm.j"), jBody = m.block(fn, "mm.jbody"), jExit = m.block(fn, "mm.jexit")
        LLVMBuildBr(bld, jHead)
        m.position(at: jHead)
        let j0 = LLVMBuildPhi(bld, m.i64, "j0")!
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, j0, jEndValue, "")!, jBody, jExit)
        m.position(at: jBody)
        let left = LLVMBuildSub(bld, n, j0, "")!
        let nValid = LLVMBuildSelect(bld, LLVMBuildICmp(bld, LLVMIntSLT, left, m.int(nr), "")!, left, m.int(nr), "")!
        emitPanel(fn: fn, family: full, j0: j0, n: n, nValid: nValid, mCount: mCount, k: k, a: a, aRow: aRow, aCol: aCol, b: b, ldb: ldb,
                  c: c, ldc: ldc, bPanels: bPanels, epilogue: epilogue)
        let jNext = LLVMBuildAdd(bld, j0, m.int(nr), "")!
        let jEnd = LLVMGetInsertBlock(bld)!
        LLVMBuildBr(bld, jHead)
        var jv: [LLVMValueRef?] = [m.int(0), jNext], jb: [LLVMBasicBlockRef?] = [pre, jEnd]
        LLVMAddIncoming(j0, &jv, &jb, 2)
        m.position(at: jExit)
        if let tail {
            let narrow = family(strides: strides, accumulate: accumulate, epilogue: epilogue?.shape, widths: vectorWidths(columns: tail.columns))
            emitPanel(fn: fn, family: narrow, j0: m.int(tail.start), n: n, nValid: m.int(tail.columns), mCount: mCount, k: k, a: a, aRow: aRow,
                      aCol: aCol, b: b, ldb: ldb, c: c, ldc: ldc, bPanels: bPanels, epilogue: epilogue)
        }
    }

    /// One column panel at j0: every row tile, over K in blocks of `kBlock`. A panel's block
    /// of B (kBlock x NR floats) stays in L1 while every row tile of A passes over it. The
    /// first block writes C (or adds, when the statement accumulates); later blocks add; the
    /// last one applies the epilogue.
    private func emitPanel(fn: LLVMValueRef, family f: Family, j0: LLVMValueRef, n: LLVMValueRef, nValid: LLVMValueRef, mCount: LLVMValueRef, k: LLVMValueRef,
                           a: LLVMValueRef, aRow: LLVMValueRef, aCol: LLVMValueRef, b: LLVMValueRef, ldb: LLVMValueRef,
                           c: LLVMValueRef, ldc: LLVMValueRef, bPanels: (width: Int, stride: LLVMValueRef)?, epilogue: Epilogue?) {
        let bld = m.builder
        // Packed B: panel j0 / width, column j0 % width inside it (a multiple of NR: the
        // kernel emitter checks).
        let panelStart = { (j: LLVMValueRef) in
            bPanels.map { p in
                self.m.gep(b, LLVMBuildAdd(bld, LLVMBuildMul(bld, LLVMBuildSDiv(bld, j, self.m.int(p.width), "")!, p.stride, "")!,
                                           LLVMBuildSRem(bld, j, self.m.int(p.width), "")!, "")!)
            } ?? self.m.gep(b, j)
        }
        let bj = panelStart(j0)
        let streams = streamsB(n: n, k: k)
        let next = LLVMBuildAdd(bld, j0, m.int(tile.nr), "")!
        let cj = m.gep(c, j0)
        let nullPointer = LLVMConstNull(m.pointer(m.f32))!
        let offset = { (p: LLVMValueRef?) in p.map { self.m.gep($0, j0) } ?? nullPointer }
        let (scale, shift) = (offset(epilogue?.scale), offset(epilogue?.shift))
        let tiles = { (kernels: [(LLVMValueRef, LLVMTypeRef)], k0: LLVMValueRef?, len: LLVMValueRef, kBlocks: LLVMValueRef) in
            let kIndex = k0.map { LLVMBuildSDiv(bld, $0, self.m.int(self.kBlock), "")! } ?? self.m.int(0)
            let prefetch: ((LLVMValueRef) -> Void)? = !streams ? nil : { i in
                self.emitSpreadPrefetch(fn: fn, next: next, n: n, k: k, ldb: ldb, start: panelStart, row: i, mCount: mCount,
                                        kIndex: kIndex, kBlocks: kBlocks)
            }
            self.emitRowTiles(fn: fn, kernels: kernels, mCount: mCount, k: len, prefetch: prefetch,
                              a: k0.map { self.m.gep(a, LLVMBuildMul(bld, $0, aCol, "")!) } ?? a, aRow: aRow, aCol: aCol,
                              b: k0.map { self.m.gep(bj, LLVMBuildMul(bld, $0, ldb, "")!) } ?? bj, ldb: ldb,
                              c: cj, ldc: ldc, nValid: nValid, scale: scale, shift: shift)
        }
        // K known to fit one block (most fused matmuls): the single-block path alone.
        if LLVMIsAConstantInt(k) != nil && LLVMConstIntGetSExtValue(k) <= kSingleMax {
            tiles(f.single, nil, k, m.int(1))
            return
        }
        let single = m.block(fn, "mm.single"), blocked = m.block(fn, "mm.blocked"), joined = m.block(fn, "mm.joined")
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLE, k, m.int(kSingleMax), "")!, single, blocked)
        m.position(at: single)
        tiles(f.single, nil, k, m.int(1))
        LLVMBuildBr(bld, joined)
        m.position(at: blocked)
        let kBlocks = LLVMBuildSDiv(bld, LLVMBuildAdd(bld, k, m.int(kBlock - 1), "")!, m.int(kBlock), "")!
        tiles(f.first, nil, m.int(kBlock), kBlocks)
        let kPre = LLVMGetInsertBlock(bld)!
        let kHead = m.block(fn, "mm.k"), kBody = m.block(fn, "mm.kbody"), kExit = m.block(fn, "mm.kexit")
        LLVMBuildBr(bld, kHead)
        m.position(at: kHead)
        let k0 = LLVMBuildPhi(bld, m.i64, "k0")!
        // Middle blocks while another full block follows.
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, LLVMBuildAdd(bld, k0, m.int(kBlock), "")!, k, "")!, kBody, kExit)
        m.position(at: kBody)
        tiles(f.middle, k0, m.int(kBlock), kBlocks)
        let kNext = LLVMBuildAdd(bld, k0, m.int(kBlock), "")!
        let kEnd = LLVMGetInsertBlock(bld)!
        LLVMBuildBr(bld, kHead)
        var kv: [LLVMValueRef?] = [m.int(kBlock), kNext], kb: [LLVMBasicBlockRef?] = [kPre, kEnd]
        LLVMAddIncoming(k0, &kv, &kb, 2)
        m.position(at: kExit)
        tiles(f.last, k0, LLVMBuildSub(bld, k, k0, "")!, kBlocks)
        LLVMBuildBr(bld, joined)
        m.position(at: joined)
    }

    /// How many full-height (MR) tiles cover M: as many as fit, except when the remainder is
    /// what two tiles of the second height take beyond one MR tile (6 + 2 = 4 + 4 on AVX2,
    /// 14 + 2 = 8 + 8 on AVX-512). Those rows then go to two second-height tiles: a 2-row
    /// tile has too few accumulators to hide the FMA latency (4 chains, one FMA per cycle), so
    /// it costs two thirds of a full tile for a third of its work, while a 4-row tile keeps both
    /// FMA pipes busy. Image rows of 56 pixels and token groups of 128 both end that way.
    /// `kiln run --ab-env` against one 2-row tile: fused FFN (4096 tokens) 1.024x faster at 1
    /// thread; ConvNeXt batch 8 1.008x (1 thread) and 1.019x (2), MobileNetV2 1.019x; ResNet
    /// and a GLA forward (C = 32) within 1%.
    func tallTiles(mCount: LLVMValueRef) -> LLVMValueRef {
        let bld = m.builder
        let all = LLVMBuildSDiv(bld, mCount, m.int(tile.mr), "")!
        let second = heights.count > 1 ? heights[1] : tile.mr
        let rest = 2 * second - tile.mr
        guard rest > 0 else { return all }
        let split = LLVMBuildAnd(bld, LLVMBuildICmp(bld, LLVMIntEQ, LLVMBuildSRem(bld, mCount, m.int(tile.mr), "")!, m.int(rest), "")!,
                                 LLVMBuildICmp(bld, LLVMIntSGE, mCount, m.int(2 * second), "")!, "")!
        return LLVMBuildSub(bld, all, LLVMBuildZExt(bld, split, m.i64, "")!, "")!
    }

    /// Row tiles over all of M for one column panel and one block of K: `tallTiles` full MR
    /// tiles, then second-height tiles while they fit (two at most), then one of each smaller
    /// height that fits.
    private func emitRowTiles(fn: LLVMValueRef, kernels: [(LLVMValueRef, LLVMTypeRef)], mCount: LLVMValueRef, k: LLVMValueRef,
                              prefetch: ((LLVMValueRef) -> Void)?, a: LLVMValueRef, aRow: LLVMValueRef, aCol: LLVMValueRef, b: LLVMValueRef, ldb: LLVMValueRef,
                              c: LLVMValueRef, ldc: LLVMValueRef, nValid: LLVMValueRef, scale: LLVMValueRef, shift: LLVMValueRef) {
        let bld = m.builder
        var i0 = m.int(0)
        let tallEnd = LLVMBuildMul(bld, tallTiles(mCount: mCount), m.int(tile.mr), "")!
        for (index, rows) in heights.enumerated() {
            let call = { (i: LLVMValueRef) in
                let aPtr = self.m.gep(a, LLVMBuildMul(bld, i, aRow, "")!)
                let cPtr = self.m.gep(c, LLVMBuildMul(bld, i, ldc, "")!)
                self.perTile?()
                if index == 0 { prefetch?(i) }
                _ = self.m.call(kernels[index], [k, aPtr, aRow, aCol, b, ldb, cPtr, ldc, nValid, scale, shift])
                return LLVMBuildAdd(bld, i, self.m.int(rows), "")!
            }
            let fits = { (at: LLVMValueRef) in
                LLVMBuildICmp(bld, LLVMIntSLE, LLVMBuildAdd(bld, at, self.m.int(rows), "")!, index == 0 ? tallEnd : mCount, "")!
            }
            let from = LLVMGetInsertBlock(bld)!
            let body = m.block(fn, "mm.i\(rows)"), done = m.block(fn, "mm.i\(rows)done")
            if index <= 1 {
                // The tallest tile repeats up to `tallTiles`, the second height while it fits.
                let head = m.block(fn, "mm.head")
                LLVMBuildBr(bld, head)
                m.position(at: head)
                let i = LLVMBuildPhi(bld, m.i64, "i")!
                LLVMBuildCondBr(bld, fits(i), body, done)
                m.position(at: body)
                let next = call(i)
                let bodyEnd = LLVMGetInsertBlock(bld)!
                LLVMBuildBr(bld, head)
                var iv: [LLVMValueRef?] = [i0, next], ib: [LLVMBasicBlockRef?] = [from, bodyEnd]
                LLVMAddIncoming(i, &iv, &ib, 2)
                m.position(at: done)
                i0 = i
            } else {
                // Each smaller height runs at most once (the remainder is below the previous height).
                LLVMBuildCondBr(bld, fits(i0), body, done)
                m.position(at: body)
                let next = call(i0)
                let bodyEnd = LLVMGetInsertBlock(bld)!
                LLVMBuildBr(bld, done)
                m.position(at: done)
                let merged = LLVMBuildPhi(bld, m.i64, "i")!
                var mv: [LLVMValueRef?] = [i0, next], mb: [LLVMBasicBlockRef?] = [from, bodyEnd]
                LLVMAddIncoming(merged, &mv, &mb, 2)
                i0 = merged
            }
        }
    }

    /// How many row-tile calls a single-K-block matmul makes: column panels times the tiles
    /// `emitRowTiles` cuts M into (`tallTiles`, second-height tiles while they fit, then at
    /// most one of each smaller height).
    func tileCalls(mCount: LLVMValueRef, n: LLVMValueRef) -> LLVMValueRef {
        let bld = m.builder
        let panels = LLVMBuildSDiv(bld, LLVMBuildAdd(bld, n, m.int(tile.nr - 1), "")!, m.int(tile.nr), "")!
        var rows = tallTiles(mCount: mCount)
        var rest = LLVMBuildSub(bld, mCount, LLVMBuildMul(bld, rows, m.int(tile.mr), "")!, "")!
        if heights.count > 1 {
            let h = m.int(heights[1])
            rows = LLVMBuildAdd(bld, rows, LLVMBuildSDiv(bld, rest, h, "")!, "")!
            rest = LLVMBuildSRem(bld, rest, h, "")!
        }
        for h in heights.dropFirst(2) {
            let fits = LLVMBuildICmp(bld, LLVMIntSGE, rest, m.int(h), "")!
            rows = LLVMBuildAdd(bld, rows, LLVMBuildZExt(bld, fits, m.i64, "")!, "")!
            rest = LLVMBuildSelect(bld, fits, LLVMBuildSub(bld, rest, m.int(h), "")!, rest, "")!
        }
        return LLVMBuildMul(bld, panels, rows, "")!
    }

    /// B blocks of at least this many bytes are taken to come from L3 (`streamsB`).
    static let streamedBBytes = 128 << 10

    /// Whether the matmul's B (known K x N) is large enough to be streamed from L3 rather than
    /// reused from L2: a transformer FFN's weight slices are (256 KiB per call, 8 MiB in all),
    /// ConvNeXt's and a linear-attention state are not (48 and 64 KiB).
    func streamsB(n: LLVMValueRef, k: LLVMValueRef) -> Bool {
        guard LLVMIsAConstantInt(n) != nil, LLVMIsAConstantInt(k) != nil else { return false }
        return Int(LLVMConstIntGetSExtValue(n)) * Int(LLVMConstIntGetSExtValue(k)) * 4 >= TileMatmulEmitter.streamedBBytes
    }

    /// Prefetches (into L2) the next column panel's B while this panel's row tiles run, a few
    /// K rows before each full-height tile: a weight-streaming matmul otherwise takes the misses
    /// in its first row tile. The rows are spread evenly over the panel's tiles (all K blocks),
    /// not issued in one burst when the panel starts: on a Zen 3 a burst of 512 prefetches filled
    /// the miss buffers and stalled the tiles behind it, and in a C model of the fused FFN
    /// (4096 tokens, weights streamed from L3) spreading them made the kernel 1.2x faster,
    /// as fast as with the weights resident in L2. In Kiln's fused FFN (`kiln run --ab-env`,
    /// 20 alternating rounds, against the burst): 1.091x faster at 1 thread, 1.078x at 2.
    private func emitSpreadPrefetch(fn: LLVMValueRef, next: LLVMValueRef, n: LLVMValueRef, k: LLVMValueRef, ldb: LLVMValueRef,
                                    start: (LLVMValueRef) -> LLVMValueRef, row i: LLVMValueRef, mCount: LLVMValueRef,
                                    kIndex: LLVMValueRef, kBlocks: LLVMValueRef) {
        let bld = m.builder
        let head = m.block(fn, "mm.pf"), done = m.block(fn, "mm.pfdone")
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, next, n, "")!, head, done)
        m.position(at: head)
        // Tile t of `total` full-height tiles in this panel prefetches rows [t K / total, (t + 1) K / total).
        let fullTiles = tallTiles(mCount: mCount)
        let product = LLVMBuildMul(bld, kBlocks, fullTiles, "")!
        let total = LLVMBuildSelect(bld, LLVMBuildICmp(bld, LLVMIntSGT, product, m.int(1), "")!, product, m.int(1), "")!
        let t = LLVMBuildAdd(bld, LLVMBuildMul(bld, kIndex, fullTiles, "")!, LLVMBuildSDiv(bld, i, m.int(tile.mr), "")!, "")!
        let first = LLVMBuildSDiv(bld, LLVMBuildMul(bld, t, k, "")!, total, "")!
        let end = LLVMBuildSDiv(bld, LLVMBuildMul(bld, LLVMBuildAdd(bld, t, m.int(1), "")!, k, "")!, total, "")!
        let base = start(next)
        let headEnd = LLVMGetInsertBlock(bld)!
        let loop = m.block(fn, "mm.pfloop")
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, first, end, "")!, loop, done)
        m.position(at: loop)
        let p = LLVMBuildPhi(bld, m.i64, "pf")!
        m.prefetch(m.gep(base, LLVMBuildMul(bld, p, ldb, "")!))
        let pNext = LLVMBuildAdd(bld, p, m.int(1), "")!
        LLVMBuildCondBr(bld, LLVMBuildICmp(bld, LLVMIntSLT, pNext, end, "")!, loop, done)
        var pv: [LLVMValueRef?] = [first, pNext], pb: [LLVMBasicBlockRef?] = [headEnd, loop]
        LLVMAddIncoming(p, &pv, &pb, 2)
        m.position(at: done)
    }
}
