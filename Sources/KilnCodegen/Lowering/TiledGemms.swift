/// The compiled executor's large GEMM steps as kernels of Kiln's in-kernel micro-kernel.
///
/// A `GemmCall` step otherwise runs through `Gemm`, a standalone BLIS-style GEMM that reaches
/// 0.65-0.73x OpenBLAS on large shapes on a Zen 3; the FFN's training graph spent most of its
/// time there. As kernels, B is first packed into panels of `panelWidth` columns (one parallel kernel), then
/// blocks of `tiledGemmRowBlock` rows of C each run one `TileMatmul` over the panels, the schedule of the
/// fused FFN block (K in L1-sized blocks, next-panel prefetch spread over the row tiles).
extension KernelProgram {
    /// GEMMs with at least this many multiply-adds become kernels; smaller ones keep `Gemm`
    /// (each distinct kernel costs compile time, and small products gain little).
    public static let tiledGemmMinimumMACs = 1 << 28

    /// Rows of C per parallel task.
    static let tiledGemmRowBlock = 128

    /// This program with every GEMM step of at least `tiledGemmMinimumMACs` replaced by a
    /// B-packing kernel and a row-blocked `TileMatmul` kernel (same results up to summation order).
    public func tilingGemms(minimumMACs: Int = KernelProgram.tiledGemmMinimumMACs) -> KernelProgram {
        var out = self
        var counter = 0
        func walk(_ steps: [KernelStep]) -> [KernelStep] {
            steps.flatMap { s -> [KernelStep] in
                switch s {
                case .gemm(let g) where g.m * g.n * g.k >= minimumMACs:
                    counter += 1
                    return out.tiles(g, tag: "\(name)_gemm\(counter)")
                case .repeatSteps(let n, let inner, let carry):
                    return [.repeatSteps(count: n, steps: walk(inner), carry: carry)]
                default:
                    return [s]
                }
            }
        }
        out.steps = walk(steps)
        return out
    }

    private mutating func tiles(_ g: GemmCall, tag: String) -> [KernelStep] {
        let pw = panelWidth, panels = (g.n + pw - 1) / pw
        buffers.append(KernelBuffer(name: "\(tag).b_panels", elements: panels * g.k * pw, isInt: false, role: .temp, constant: nil))
        let packed = buffers.count - 1
        // packed[(jp * k + p) * pw + jj] = B[p, jp * pw + jj], zero past column n.
        let col = KExpr.ivar("jp") * .int(pw) + .ivar("jj")
        let source = KExpr.load(g.b, .int(g.bOffset) + .ivar("p") * .int(g.n) + .iop(.min, col, .int(g.n - 1)))
        let pack = KernelFunction(name: "\(tag)_pack_b", buffers: [g.b, packed].sorted(), parallelCount: panels, body: [
            .loop("jp", .int(panels), parallel: true, [
                .loop("p", .int(g.k), parallel: false, [
                    .loop("jj", .int(pw), parallel: false, [
                        .store(packed, (KExpr.ivar("jp") * .int(g.k) + .ivar("p")) * .int(pw) + .ivar("jj"),
                               g.n % pw == 0 ? source : .select(.ilt(col, .int(g.n)), source, .float(0))),
                    ]),
                ]),
            ]),
        ])
        let rb = KernelProgram.tiledGemmRowBlock, blocks = (g.m + rb - 1) / rb
        let r0 = KExpr.ivar("rb") * .int(rb)
        let product = TileMatmul(m: .iop(.min, .int(rb), .int(g.m) - r0), n: .int(g.n), k: .int(g.k),
                                 a: g.a, aOffset: .int(g.aOffset) + r0 * .int(g.k), aRowStride: .int(g.k),
                                 b: packed, bOffset: 0, ldb: .int(g.n),
                                 c: g.c, cOffset: .int(g.cOffset) + r0 * .int(g.n), ldc: .int(g.n),
                                 accumulate: g.accumulate, bPanels: PackedPanels(width: pw, stride: .int(g.k * pw)))
        let rows = KernelFunction(name: "\(tag)_tiles", buffers: Array(Set([g.a, packed, g.c])).sorted(), parallelCount: blocks,
                                  body: [.loop("rb", .int(blocks), parallel: true, [.matmul(product)])])
        return [.kernel(pack), .kernel(rows)]
    }
}
