/// Kernel IR: what Graph IR lowers to before LLVM. A program is a list of steps over flat
/// buffers: loop-nest kernels (JIT-compiled), GEMM calls (Kiln's micro-kernel or OpenBLAS),
/// and counted loops of steps (for `repeat`). Printed by `kiln dump --emit kernels`.
///
/// Loops are scalar; innermost loops are left for LLVM's loop vectorizer (which sees the host
/// target machine), and transcendentals are straight-line code, so they vectorize too.

/// Integer and float expressions. Integers are i64; floats f32.
public indirect enum KExpr: Hashable, Sendable {
    case int(Int)
    case float(Float)
    /// A loop variable or an integer `let`.
    case ivar(String)
    /// A float `let` or mutable variable.
    case fvar(String)
    case iop(IntOp, KExpr, KExpr)
    case fop(FloatOp, KExpr, KExpr)
    case call(MathFn, KExpr)
    /// buffer[index] as f32.
    case load(Int, KExpr)
    /// buffer[index] as i32, widened to i64.
    case loadInt(Int, KExpr)
    case select(KCond, KExpr, KExpr)
    /// Integer to float.
    case toFloat(KExpr)
}

public enum IntOp: String, Hashable, Sendable { case add, sub, mul, div, rem, min, max }
public enum FloatOp: String, Hashable, Sendable { case add, sub, mul, div, max, min }
public enum MathFn: String, Hashable, Sendable {
    case neg, exp, log, sqrt, rsqrt, tanh, sigmoid, logsigmoid, relu, relu6, gelu, gelu_tanh, silu, softplus, abs, erf, step
    /// e^x for x ≤ 0, results below ~1.2e-38 held at that floor (`VectorMath.expNonPositive`):
    /// the chunkwise linear-attention kernels, whose exp arguments `ExpArgumentCheck` proves ≤ 0.
    case exp_nonpositive
}

public indirect enum KCond: Hashable, Sendable {
    case ilt(KExpr, KExpr)
    case ige(KExpr, KExpr)
    case flt(KExpr, KExpr)
    case and(KCond, KCond)
}

public indirect enum KStmt: Hashable, Sendable {
    /// for var in 0..<count. `parallel` marks the loop the thread pool may split (outermost only).
    case loop(String, KExpr, parallel: Bool, [KStmt])
    case letInt(String, KExpr)
    /// Declares a mutable float variable with an initial value.
    case variable(String, KExpr)
    case assign(String, KExpr)
    case store(Int, KExpr, KExpr)
    case ifThen(KCond, [KStmt])
    /// A matrix product on buffer slices through Kiln's register-blocked micro-kernel.
    case matmul(TileMatmul)
    /// A hint: start bringing the cache line holding `buffer[index]` into L2 (for writing when
    /// `write`). It changes no value, and an index past the buffer is harmless (x86 prefetches
    /// never fault), so kernels prefetch the next tile's rows while working on this one.
    case prefetch(Int, KExpr, write: Bool)
    /// A transposed copy of a tile (see `TileTranspose`), through register shuffles.
    case transpose(TileTranspose)
}

/// `dst[dstOffset + c * dstLd + r] = src[srcOffset + r * srcLd + c]` for `r < rows, c < cols`.
///
/// A loop that writes this vectorizes into gathers or scatters, which cost ~3 cycles per
/// element on this machine kind (the GLA backward spent ~28% of its time in them). The emitter
/// instead loads full vector-width square blocks row by row, transposes them in registers with
/// log2(width) rounds of two-source shuffles, and stores them as rows; only ragged edges are
/// copied element by element. Source and destination must not overlap.
public struct TileTranspose: Hashable, Sendable {
    public var rows: KExpr, cols: KExpr
    public var src: Int, srcOffset: KExpr, srcLd: KExpr
    public var dst: Int, dstOffset: KExpr, dstLd: KExpr

    public init(rows: KExpr, cols: KExpr, src: Int, srcOffset: KExpr, srcLd: KExpr, dst: Int, dstOffset: KExpr, dstLd: KExpr) {
        self.rows = rows; self.cols = cols
        self.src = src; self.srcOffset = srcOffset; self.srcLd = srcLd
        self.dst = dst; self.dstOffset = dstOffset; self.dstLd = dstLd
    }

    /// The element-by-element form (what the emitter does at the edges, and a reference).
    public func scalarLoops(rowsFrom r0: KExpr = 0, colsFrom c0: KExpr = 0, colsTo c1: KExpr? = nil) -> KStmt {
        let r: KExpr = r0 + .ivar("transpose.r"), c: KExpr = c0 + .ivar("transpose.c")
        return .loop("transpose.r", rows - r0, parallel: false, [.loop("transpose.c", (c1 ?? cols) - c0, parallel: false, [
            .store(dst, dstOffset + c * dstLd + r, .load(src, srcOffset + r * srcLd + c)),
        ])])
    }
}

/// Inside a kernel: `C[i, j] (+)= sum_p A[i, p] * B[p, j]` for `i < m, j < n, p < k`.
///
/// A takes any strides (`A[i, p] = a[aOffset + i*aRowStride + p*aColStride]`), so a
/// transposed operand costs nothing; B and C need contiguous rows (`B[p, j] = b[bOffset +
/// p*ldb + j]`) because the micro-kernel loads them as vectors. Sizes and offsets are
/// expressions, so a fused kernel can multiply the tile it is working on; strides that are
/// constants are baked into the emitted code.
public struct TileMatmul: Hashable, Sendable {
    public var m: KExpr, n: KExpr, k: KExpr
    public var a: Int, aOffset: KExpr, aRowStride: KExpr, aColStride: KExpr
    public var b: Int, bOffset: KExpr, ldb: KExpr
    public var c: Int, cOffset: KExpr, ldc: KExpr
    /// Adds to C instead of overwriting it.
    public var accumulate: Bool
    /// When set, B is packed in panels (see `PackedPanels`), so the micro-kernel reads each
    /// panel sequentially instead of striding across rows (which maps a tall B onto a few L1
    /// sets). `ldb` is unused.
    public var bPanels: PackedPanels?
    /// Applied to each element of C as it is finally stored (see `TileEpilogue`).
    public var epilogue: TileEpilogue?
    /// Run before each row-tile call, with the integer variable `tile` bound to the calls made so
    /// far in this matmul and `tiles` to the calls one K block makes. Kernels use it to spread
    /// prefetches of the next chunk's operands thinly over a long matmul (in bursts, most are lost).
    public var perTile: [KStmt] = []

    public init(m: KExpr, n: KExpr, k: KExpr, a: Int, aOffset: KExpr, aRowStride: KExpr, aColStride: KExpr = 1,
                b: Int, bOffset: KExpr, ldb: KExpr, c: Int, cOffset: KExpr, ldc: KExpr, accumulate: Bool, bPanels: PackedPanels? = nil,
                epilogue: TileEpilogue? = nil) {
        self.epilogue = epilogue
        self.m = m; self.n = n; self.k = k
        self.a = a; self.aOffset = aOffset; self.aRowStride = aRowStride; self.aColStride = aColStride
        self.b = b; self.bOffset = bOffset; self.ldb = ldb
        self.c = c; self.cOffset = cOffset; self.ldc = ldc
        self.accumulate = accumulate
        self.bPanels = bPanels
    }
}

/// B packed in panels of `width` columns, each panel `stride` floats after the previous one:
/// `B[p, j] = b[bOffset + (j / width) * stride + p * width + j % width]`, zero-padded past the
/// last column. The width is the target's micro-kernel tile (`HostTarget.panelWidth`), so a
/// row tile reads whole 64-byte lines of its panel: with AVX2's 16-column tiles reading half
/// of each row of 32-column panels, the fused FFN ran 2-3% slower and MobileNetV2 2.5%.
public struct PackedPanels: Hashable, Sendable {
    public var width: Int
    public var stride: KExpr

    public init(width: Int, stride: KExpr) { self.width = width; self.stride = stride }
}

/// What a `TileMatmul` does to each element of C before storing it, while the tile is still
/// in registers: `C[i, j] = activation(C[i, j] * scale[j] + shift[j])`, each part optional.
/// A bias, an inference batch norm and the activation after them then cost no pass of their
/// own over the row. Column j of a vector is `buffer[offset + j]`.
public struct TileEpilogue: Hashable, Sendable {
    public var scale: Int?, scaleOffset: KExpr
    public var shift: Int?, shiftOffset: KExpr
    public var activation: MathFn?

    public init(scale: Int? = nil, scaleOffset: KExpr = 0, shift: Int? = nil, shiftOffset: KExpr = 0, activation: MathFn? = nil) {
        self.scale = scale; self.scaleOffset = scaleOffset
        self.shift = shift; self.shiftOffset = shiftOffset
        self.activation = activation
    }

    /// Buffers it reads.
    public var buffers: [Int] { [scale, shift].compactMap { $0 } }
}

/// One JIT-compiled function: `void name(i64 begin, i64 end, float** buffers)`. The outermost
/// parallel loop runs begin..<end; a kernel without one runs once with (0, 1).
public struct KernelFunction: Hashable, Sendable {
    public var name: String
    /// Buffer ids this kernel touches, in the order of its pointer table.
    public var buffers: [Int]
    /// Trip count of the parallel loop (1 if none).
    public var parallelCount: Int
    public var body: [KStmt]
    /// Scratch buffers (role `.scratch`): allocated by each call, so every thread has its own,
    /// and freed on return. Fused kernels keep their row strips and tiles here.
    public var scratch: [ScratchBuffer] = []
}

/// A kernel's per-call buffer: program buffer `id` (role `.scratch`) of `elements` floats.
public struct ScratchBuffer: Hashable, Sendable {
    public var id: Int
    public var elements: Int
}

/// Row-major GEMM on buffers: C[m,n] (+)= A[m,k] B[k,n], each operand at an element offset.
public struct GemmCall: Hashable, Sendable {
    public var m: Int, n: Int, k: Int
    public var a: Int, b: Int, c: Int
    public var aOffset: Int, bOffset: Int, cOffset: Int
    public var accumulate: Bool
}

public indirect enum KernelStep: Hashable, Sendable {
    case kernel(KernelFunction)
    case gemm(GemmCall)
    /// Runs `steps` `count` times; after each pass copies each (from, to, elements).
    case repeatSteps(count: Int, steps: [KernelStep], carry: [(Int, Int, Int)])

    public static func == (a: KernelStep, b: KernelStep) -> Bool { a.hashKey == b.hashKey }
    public func hash(into h: inout Hasher) { h.combine(hashKey) }
    private var hashKey: String { "\(self)" }
}

/// A buffer of the program: where a Graph IR value (or a temporary) lives.
public struct KernelBuffer: Hashable, Sendable {
    public enum Role: String, Sendable { case input, param, output, temp, constant, scratch }
    public var name: String
    public var elements: Int
    public var isInt: Bool
    public var role: Role
    /// Initial contents for constants.
    public var constant: [Float]?
}

/// The lowered form of one Graph IR function.
public struct KernelProgram: Sendable {
    public var name: String
    public var buffers: [KernelBuffer]
    public var steps: [KernelStep]
    /// Buffer of each function argument, in signature order, and of each result.
    public var argumentBuffers: [Int]
    public var resultBuffers: [Int]
    /// i32 buffers used as embedding ids, with the table size they index.
    public var idLimits: [Int: Int] = [:]
    /// Columns of the packed B panels its matmuls read: the micro-kernel tile of the target it
    /// was lowered for (`Lowering.lower(_:target:)`).
    public var panelWidth: Int = 32
}
