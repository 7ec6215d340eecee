import Foundation
import KilnCodegen
import KilnIR

/// One row of a per-step profile: a kernel or GEMM call of the program, with its median time.
public struct StepProfile: Sendable {
    /// The kernel's name (`<function>_k<n>_<op>`) or `gemm MxNxK`.
    public var name: String
    /// Median wall seconds over the profiled runs.
    public var seconds: Double
    /// FLOPs when known (GEMM calls: 2mnk), else nil.
    public var flops: Double?
}

extension Executable {
    /// Median wall time of every top-level step over `repeats` runs (after the inputs are copied
    /// into the arena and one warm-up run). A `repeat` region counts as one step. For
    /// finding where time goes; the sum is close to, not equal to, an unprofiled run.
    public func profileSteps(_ inputs: [String: HostTensor], repeats: Int) throws -> [StepProfile] {
        lock.lock()
        defer { lock.unlock() }
        try stageInputs(inputs)
        try runSteps(program.steps)  // warm-up
        let steps = program.steps
        var samples = [[Double]](repeating: [], count: steps.count)
        for _ in 0..<max(repeats, 1) {
            for (i, s) in steps.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                try runSteps([s])
                samples[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
        }
        return zip(steps, samples).map { step, t in
            let median = t.sorted()[t.count / 2]
            switch step {
            case .kernel(let k): return StepProfile(name: k.name, seconds: median, flops: nil)
            case .gemm(let g): return StepProfile(name: "gemm \(g.m)x\(g.n)x\(g.k)", seconds: median, flops: 2.0 * Double(g.m * g.n * g.k))
            case .repeatSteps(let count, let inner, _): return StepProfile(name: "repeat \(count) x \(inner.count) steps", seconds: median, flops: nil)
            }
        }
    }
}
