/// `kiln bench --compare BASELINE.json`: a fresh run against checked-in records.
///
/// A configuration regresses when a Kiln variant's median (every variant but `unfused`,
/// which is OpenBLAS and not ours) is more than `maxSlowdown` times its baseline median,
/// or when its ratio falls below `minRatioFraction` of the baseline ratio. The ratio
/// check catches a regression the machine's speed would hide: both variants measured in
/// the same run slow down together when the machine is busy, the ratio does not.
public struct BenchComparison: Sendable {
    public var maxSlowdown = 1.25
    public var minRatioFraction = 0.8

    public init() {}

    public struct Outcome: Sendable {
        /// Lines describing each regression; empty means the check passes.
        public var regressions: [String]
        /// Matched configurations, one line each, for the log.
        public var compared: [String]
        /// Fresh records with no baseline (new benchmarks; not a failure).
        public var unmatched: [String]
    }

    public func compare(current: [BenchRecord], baseline: [BenchRecord]) -> Outcome {
        var base: [String: BenchRecord] = [:]
        for b in baseline { base[b.key] = b }
        var out = Outcome(regressions: [], compared: [], unmatched: [])
        for r in current where r.variant != .unfused {
            guard let b = base[r.key] else { out.unmatched.append(r.key); continue }
            let slowdown = r.medianMs / b.medianMs
            var line = String(format: "%@: median %.3f ms vs %.3f ms (%.2fx)", r.key, r.medianMs, b.medianMs, slowdown)
            if slowdown > maxSlowdown {
                out.regressions.append(String(format: "%@: median %.3f ms is %.0f%% slower than the baseline %.3f ms (limit %.0f%%)",
                                              r.key, r.medianMs, 100 * (slowdown - 1), b.medianMs, 100 * (maxSlowdown - 1)))
            }
            if let ratio = r.ratio, let baseRatio = b.ratio {
                line += String(format: ", ratio %.2fx vs %.2fx", ratio, baseRatio)
                if ratio < baseRatio * minRatioFraction {
                    out.regressions.append(String(format: "%@: ratio %.2fx fell below %.0f%% of the baseline %.2fx",
                                                  r.key, ratio, 100 * minRatioFraction, baseRatio))
                }
            }
            out.compared.append(line)
        }
        return out
    }
}
