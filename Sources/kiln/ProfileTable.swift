import Foundation
import Kiln

/// Prints `kiln run --profile`: every step in program order (name, median ms, % of the
/// total, GFLOP/s where the FLOPs are known), then the same time summed per op, largest first.
func printProfile(_ steps: [StepProfile]) {
    let total = steps.reduce(0) { $0 + $1.seconds }
    guard total > 0 else { print("profile: no steps"); return }
    print("profile: \(steps.count) steps, \(String(format: "%.3f", total * 1e3)) ms in total (sum of per-step medians)")
    let width = max(steps.map(\.name.count).max() ?? 0, 6)
    func pad(_ s: String) -> String { s + String(repeating: " ", count: max(width - s.count, 0)) }
    print("   #  " + pad("kernel") + "         ms       %   GFLOP/s")
    for (i, s) in steps.enumerated() {
        let rate = s.flops.map { String(format: "%9.1f", $0 / s.seconds / 1e9) } ?? String(repeating: " ", count: 8) + "-"
        print(String(format: "%4d  %@ %10.3f %6.1f%% %@", i, pad(s.name), s.seconds * 1e3, 100 * s.seconds / total, rate))
    }
    var byOp: [String: (Double, Int)] = [:]
    for s in steps {
        let op = profileOpName(s.name)
        byOp[op, default: (0, 0)].0 += s.seconds
        byOp[op, default: (0, 0)].1 += 1
    }
    print("by op:")
    for (op, (t, n)) in byOp.sorted(by: { $0.value.0 > $1.value.0 }) {
        print(String(format: "      %@ %10.3f %6.1f%%  (%d step%@)", pad(op), t * 1e3, 100 * t / total, n, n == 1 ? "" : "s"))
    }
}

/// The op of a kernel named `<function>_k<n>_<op>` (the part after `_k<digits>_`); GEMM
/// calls group as `gemm`.
func profileOpName(_ name: String) -> String {
    if name.hasPrefix("gemm ") { return "gemm" }
    if name.hasPrefix("repeat ") { return "repeat" }
    let parts = name.split(separator: "_", omittingEmptySubsequences: false)
    if let k = parts.lastIndex(where: { $0.count > 1 && $0.first == "k" && $0.dropFirst().allSatisfy(\.isNumber) }) {
        return parts[(k + 1)...].joined(separator: "_")
    }
    return name
}
