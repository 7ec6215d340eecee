/// `kiln bench --compare BASELINE.json`: a fresh run against checked-in records.
///
/// A configuration regresses when a Kiln variant's median (every variant but `unfused`,
/// which is OpenBLAS and not ours) is more than `maxSlowdown` times its baseline median,
/// or when its ratio falls below `minRatioFraction` of the baseline ratio. The ratio
/// check catches a regression the machine's speed would hide: both variants measured in
/// the same run slow down together when the machine is busy, the ratio does not.
///
/// With `normalizeByMachine` (the default) the median slowdown is first multiplied by
/// current / baseline in-run sgemm rate at the same thread count: on a machine that is
/// uniformly 30% slower today (other jobs, clock), every median is 30% higher and none of
/// that is Kiln's doing. Measured on the shared development machine, an unchanged build
/// re-run showed raw medians up to 2.7x the baseline's while its sgemm rate fell by a quarter.
public struct BenchComparison: Sendable {
    public var maxSlowdown = 1.25
    public var minRatioFraction = 0.8
    public var normalizeByMachine = true

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
            let raw = r.medianMs / b.medianMs
            let speed = normalizeByMachine && r.sgemmGflops > 0 && b.sgemmGflops > 0 ? r.sgemmGflops / b.sgemmGflops : 1
            let slowdown = raw * speed
            var line = String(format: "%@: median %.3f ms vs %.3f ms (%.2fx", r.key, r.medianMs, b.medianMs, raw)
            if speed != 1 { line += String(format: "; %.2fx at the baseline's sgemm rate", slowdown) }
            line += ")"
            if slowdown > maxSlowdown {
                var text = String(format: "%@: median %.3f ms is %.0f%% slower than the baseline %.3f ms", r.key, r.medianMs,
                                  100 * (slowdown - 1), b.medianMs)
                if speed != 1 {
                    text += String(format: " after scaling by the in-run sgemm rates (%.1f vs %.1f GFLOP/s; raw %.0f%%)",
                                   r.sgemmGflops, b.sgemmGflops, 100 * (raw - 1))
                }
                out.regressions.append(text + String(format: " (limit %.0f%%)", 100 * (maxSlowdown - 1)))
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
