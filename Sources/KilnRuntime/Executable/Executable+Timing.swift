import Foundation
import KilnIR

extension Executable {
    /// Wall times in seconds of `repeats` runs of the compiled steps alone: the inputs are
    /// copied into the arena once, so copying tensors in and out is not timed. For
    /// benchmarks, where a 64k-token input copy would otherwise dominate.
    public func timeSteps(_ inputs: [String: HostTensor], repeats: Int) throws -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        try stageInputs(inputs)
        try runSteps(program.steps)  // warm-up
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            try runSteps(program.steps)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times
    }
}
