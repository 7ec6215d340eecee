import Foundation

/// The efficiency-gap chart of `kiln bench --plot FILE.svg`, written as plain SVG.
///
/// One bar group per configuration (block, direction, batch, threads): a bar of achieved
/// GFLOP/s per variant, a bar of the attainable rate (the work over the roofline bound),
/// and a dashed tick at the in-run OpenBLAS sgemm rate. The gap between a variant's bar
/// and the attainable bar is what is left to win.
public enum EfficiencyPlot {
    /// Colors for the variants Kiln knows; others take the spare colors in order.
    static let variantColors: [String: String] = [
        "fused": "#d95f02", "unfused": "#7570b3", "recurrent": "#1b9e77", "chunkwise": "#e7298a", "parallel": "#66a61e",
    ]
    static let spareColors = ["#e6ab02", "#a6761d", "#1f78b4", "#b2df8a"]
    static let attainableColor = "#c8c8c8"

    static let barWidth = 14.0, groupGap = 22.0, plotHeight = 320.0
    static let left = 70.0, right = 30.0, top = 70.0, bottom = 170.0

    public static func svg(_ records: [BenchRecord], title: String = "kiln bench: achieved vs attainable GFLOP/s") -> String {
        let groups = BenchTable.groups(records)
        var variants: [String] = []
        for r in records where !variants.contains(r.variant.rawValue) { variants.append(r.variant.rawValue) }
        var colors: [String: String] = [:]
        var spare = spareColors.makeIterator()
        for v in variants { colors[v] = variantColors[v] ?? spare.next() ?? "#444444" }

        let barsPerGroup = Double(variants.count + 1)
        let groupWidth = barsPerGroup * barWidth + groupGap
        let plotWidth = max(Double(groups.count) * groupWidth, 300)
        let width = left + plotWidth + right, height = top + plotHeight + bottom
        let highest = records.flatMap { [$0.gflops, $0.attainableGflops, $0.sgemmGflops] }.filter(\.isFinite).max() ?? 1
        let (yMax, step) = axis(max(highest, 1e-9) * 1.05)
        func y(_ v: Double) -> Double { top + plotHeight * (1 - min(max(v, 0), yMax) / yMax) }

        var s = [String]()
        s.append(##"<?xml version="1.0" encoding="UTF-8"?>"##)
        s.append(##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(f(width))" height="\##(f(height))" viewBox="0 0 \##(f(width)) \##(f(height))" font-family="sans-serif" font-size="11">"##)
        s.append(##"<rect width="100%" height="100%" fill="white"/>"##)
        s.append(##"<text x="\##(f(width / 2))" y="22" text-anchor="middle" font-size="15">\##(escape(title))</text>"##)

        // Axes, grid and tick labels.
        s.append(##"<g class="axes" stroke="#000">"##)
        s.append(##"<line x1="\##(f(left))" y1="\##(f(top))" x2="\##(f(left))" y2="\##(f(top + plotHeight))"/>"##)
        s.append(##"<line x1="\##(f(left))" y1="\##(f(top + plotHeight))" x2="\##(f(left + plotWidth))" y2="\##(f(top + plotHeight))"/>"##)
        s.append("</g>")
        var tick = 0.0
        while tick <= yMax + step / 2 {
            let ty = y(tick)
            s.append(##"<line x1="\##(f(left))" y1="\##(f(ty))" x2="\##(f(left + plotWidth))" y2="\##(f(ty))" stroke="#e4e4e4"/>"##)
            s.append(##"<text x="\##(f(left - 6))" y="\##(f(ty + 4))" text-anchor="end">\##(number(tick))</text>"##)
            tick += step
        }
        let mid = top + plotHeight / 2
        s.append(##"<text x="18" y="\##(f(mid))" text-anchor="middle" transform="rotate(-90 18 \##(f(mid)))">GFLOP/s (higher is better)</text>"##)
        s.append(##"<text x="\##(f(left + plotWidth / 2))" y="\##(f(height - 8))" text-anchor="middle">block, direction, batch, threads</text>"##)

        // Bars.
        for (i, g) in groups.enumerated() {
            let x0 = left + groupGap / 2 + Double(i) * groupWidth
            let first = g.records[0]
            s.append(##"<g class="bar-group" data-config="\##(escape(g.key))">"##)
            for (j, v) in variants.enumerated() {
                guard let r = g.records.first(where: { $0.variant.rawValue == v }) else { continue }
                s.append(bar(x: x0 + Double(j) * barWidth, value: r.gflops, y: y, color: colors[v]!, kind: v,
                             tip: String(format: "%@ %@: %.1f GFLOP/s, %.3f ms", g.key, v, r.gflops, r.medianMs)))
            }
            let attainable = first.attainableGflops
            s.append(bar(x: x0 + Double(variants.count) * barWidth, value: attainable, y: y, color: attainableColor,
                         kind: "attainable", tip: String(format: "%@ attainable: %.1f GFLOP/s (roofline %.3f ms)", g.key, attainable, first.rooflineMs)))
            let sy = y(first.sgemmGflops)
            s.append(##"<line class="sgemm" x1="\##(f(x0 - 3))" y1="\##(f(sy))" x2="\##(f(x0 + barsPerGroup * barWidth + 3))" y2="\##(f(sy))" stroke="#000" stroke-dasharray="4 2"/>"##)
            let lx = x0 + barsPerGroup * barWidth / 2, ly = top + plotHeight + 12
            s.append(##"<text x="\##(f(lx))" y="\##(f(ly))" text-anchor="end" transform="rotate(-45 \##(f(lx)) \##(f(ly)))">\##(escape(label(first)))</text>"##)
            s.append("</g>")
        }

        // Legend.
        var lx = left
        let legendY = 40.0
        s.append(##"<g class="legend">"##)
        for (name, color) in variants.map({ ($0, colors[$0]!) }) + [("attainable (roofline)", attainableColor)] {
            s.append(##"<rect x="\##(f(lx))" y="\##(f(legendY))" width="12" height="12" fill="\##(color)"/>"##)
            s.append(##"<text x="\##(f(lx + 16))" y="\##(f(legendY + 10))">\##(escape(name))</text>"##)
            lx += 30 + Double(name.count) * 6.5
        }
        s.append(##"<line x1="\##(f(lx))" y1="\##(f(legendY + 6))" x2="\##(f(lx + 22))" y2="\##(f(legendY + 6))" stroke="#000" stroke-dasharray="4 2"/>"##)
        s.append(##"<text x="\##(f(lx + 26))" y="\##(f(legendY + 10))">OpenBLAS sgemm (in-run)</text>"##)
        s.append("</g>")
        s.append("</svg>")
        return s.joined(separator: "\n") + "\n"
    }

    static func bar(x: Double, value: Double, y: (Double) -> Double, color: String, kind: String, tip: String) -> String {
        let v = value.isFinite ? value : 0
        let top = y(v), h = y(0) - top
        return ##"<rect class="bar" data-variant="\##(escape(kind))" x="\##(f(x))" y="\##(f(top))" width="\##(f(barWidth - 2))" height="\##(f(h))" fill="\##(color)"><title>\##(escape(tip))</title></rect>"##
    }

    static func label(_ r: BenchRecord) -> String {
        var l = "\(r.name) \(r.direction == .forward ? "fwd" : "fwd+bwd") b\(r.batch) t\(r.threads)"
        if let t = r.seqLen { l += " T\(t)" }
        if let c = r.chunk { l += " C\(c)" }
        return l
    }

    /// A round axis maximum and tick step (1, 2 or 5 times a power of ten, about five ticks).
    static func axis(_ highest: Double) -> (max: Double, step: Double) {
        let raw = highest / 5
        let p = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * p }.first { $0 >= raw } ?? 10 * p
        return (ceil(highest / step) * step, step)
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(format: "%g", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
