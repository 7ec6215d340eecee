extension KernelProgram {
    /// Every buffer some step may write: kernel stores, tile matmul and transpose destinations,
    /// GEMM outputs and the targets of repeat-loop carries.
    ///
    /// The executor binds a caller's input array in place only when its buffer is not in this
    /// set: a kernel must never write into memory the caller still owns.
    public var writtenBuffers: Set<Int> {
        var written = Set<Int>()
        func walk(_ s: KStmt) {
            switch s {
            case .store(let b, _, _): written.insert(b)
            case .matmul(let t):
                written.insert(t.c)
                t.perTile.forEach(walk)
            case .transpose(let t): written.insert(t.dst)
            case .loop(_, _, _, let body), .ifThen(_, let body): body.forEach(walk)
            case .letInt, .variable, .assign, .prefetch: break
            }
        }
        func walk(_ s: KernelStep) {
            switch s {
            case .kernel(let k): k.body.forEach(walk)
            case .gemm(let g): written.insert(g.c)
            case .repeatSteps(_, let inner, let carry):
                inner.forEach(walk)
                for (_, to, _) in carry { written.insert(to) }
            }
        }
        steps.forEach(walk)
        return written
    }
}
