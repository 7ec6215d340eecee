import KilnCodegen
import KilnRuntime

extension KernelProgram {
    /// Kernel launches in one pass over the steps: JIT kernels plus GEMM calls (a repeat
    /// body counted once). `allKernels.count` alone would not see the unfused executor's
    /// OpenBLAS calls, which are kernels too from the memory system's point of view:
    /// each reads its operands from and writes its result to memory.
    public var kernelLaunches: Int {
        func walk(_ steps: [KernelStep]) -> Int {
            steps.reduce(0) { n, s in
                switch s {
                case .kernel: return n + 1
                case .gemm: return n + 1
                case .repeatSteps(_, let inner, _): return n + walk(inner)
                }
            }
        }
        return walk(steps)
    }
}
