import Foundation

/// The readable `kiln bench` output: one line per configuration, fused next to unfused.
public enum BenchTable {
    /// Configurations, each with its records, block by block: names in the order first
    /// measured, then direction, batch, sequence length, chunk and threads, so a block's
    /// thread counts sit side by side although the runner measures thread count by thread count.
    public static func groups(_ records: [BenchRecord]) -> [(key: String, records: [BenchRecord])] {
        var order: [String] = []
        var names: [String] = []
        var byKey: [String: [BenchRecord]] = [:]
        for r in records {
            if byKey[r.configKey] == nil { order.append(r.configKey) }
            if !names.contains(r.name) { names.append(r.name) }
            byKey[r.configKey, default: []].append(r)
        }
        func sortKey(_ r: BenchRecord) -> [Int] {
            [names.firstIndex(of: r.name)!, BenchDirection.allCases.firstIndex(of: r.direction)!, r.batch, r.seqLen ?? 0,
             r.chunk ?? 0, r.threads]
        }
        let sorted = order.enumerated().sorted { a, b in
            let ka = sortKey(byKey[a.element]![0]), kb = sortKey(byKey[b.element]![0])
            return ka != kb ? ka.lexicographicallyPrecedes(kb) : a.offset < b.offset
        }
        return sorted.map { ($0.element, byKey[$0.element]!) }
    }

    /// "compute" when the roofline is the sgemm roof, "memory" when it is the bandwidth roof.
    public static func bound(of r: BenchRecord) -> String {
        let computeMs = r.flops / (r.sgemmGflops * 1e9) * 1e3
        return abs(computeMs - r.rooflineMs) <= 1e-9 * max(r.rooflineMs, 1e-12) ? "compute" : "memory"
    }

    /// The table: configurations with a fused and an unfused record as one row each (ratio =
    /// unfused / fused time), then any other records (other suites' variants) one per row.
    public static func render(_ records: [BenchRecord], machines: [MeasuredMachine] = []) -> String {
        var lines: [String] = machines.map { "machine " + $0.summary }
        var pairs: [(fused: BenchRecord, unfused: BenchRecord)] = []
        var others: [BenchRecord] = []
        for (_, rs) in groups(records) {
            if let f = rs.first(where: { $0.variant == .fused }), let u = rs.first(where: { $0.variant == .unfused }) {
                pairs.append((f, u))
                others += rs.filter { $0.variant != .fused && $0.variant != .unfused }
            } else {
                others += rs
            }
        }
        if !pairs.isEmpty {
            lines.append(pad(["name", "direction", "batch", "thr", "fused ms", "unfused ms", "ratio", "fused GF/s",
                              "% sgemm", "% peak", "roofline ms", "bound", "kernels f/u"], widths: pairWidths))
            for (f, u) in pairs {
                lines.append(pad([f.name, f.direction.rawValue, "\(f.batch)", "\(f.threads)", ms(f.medianMs), ms(u.medianMs),
                                  String(format: "%.2fx", u.medianMs / f.medianMs), String(format: "%.1f", f.gflops),
                                  String(format: "%.1f%%", 100 * f.fractionOfSgemm), percent(f.fractionOfPeak), ms(f.rooflineMs), bound(of: f),
                                  "\(f.kernels.map(String.init) ?? "-")/\(u.kernels.map(String.init) ?? "-")"],
                                 widths: pairWidths))
            }
        }
        if !others.isEmpty {
            if !pairs.isEmpty { lines.append("") }
            lines.append(pad(["name", "direction", "batch", "thr", "T", "chunk", "variant", "median ms", "GF/s", "% sgemm",
                              "roofline ms", "ratio", "T ratio"], widths: otherWidths))
            for r in others {
                lines.append(pad([r.name, r.direction.rawValue, "\(r.batch)", "\(r.threads)", r.seqLen.map(String.init) ?? "-",
                                  r.chunk.map(String.init) ?? "-", r.variant.rawValue, ms(r.medianMs),
                                  String(format: "%.1f", r.gflops), String(format: "%.1f%%", 100 * r.fractionOfSgemm),
                                  ms(r.rooflineMs), r.ratio.map { String(format: "%.2fx", $0) } ?? "-",
                                  r.lengthRatio.map { String(format: "%.1f", $0) } ?? "-"],
                                 widths: otherWidths))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // Negative widths are left-aligned (text columns), positive right-aligned (numbers).
    static let pairWidths = [-20, -16, 5, 3, 10, 10, 7, 10, 8, 7, 11, 8, 11]
    static let otherWidths = [-20, -16, 5, 3, 6, 5, -10, 10, 8, 8, 11, 7, 8]

    /// A fraction as a percentage, "-" when it was not measured.
    static func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }

    static func ms(_ v: Double) -> String { String(format: v < 10 ? "%.3f" : v < 1000 ? "%.2f" : "%.0f", v) }

    static func pad(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { c, w in
            let n = abs(w), fill = String(repeating: " ", count: max(n - c.count, 0))
            return w < 0 ? c + fill : fill + c
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
}
