import KilnIR

/// Checks that two variants of a function computed the same results before either is
/// timed: a fast wrong kernel must fail the benchmark, not win it.
public enum OutputAgreement {
    /// Largest |a - b| over a result, relative to the largest |reference| in that result.
    /// Relative to the tensor's scale rather than per element because gradients sum over
    /// the batch and their small entries carry absolute, not relative, rounding error.
    public static func relativeError(_ candidate: HostTensor, _ reference: HostTensor) -> Double {
        let a = candidate.doubles, b = reference.doubles
        var diff = 0.0, scale = 0.0
        for i in 0..<min(a.count, b.count) {
            if a[i].isNaN != b[i].isNaN { return .infinity }
            if a[i].isNaN { continue }
            diff = max(diff, abs(a[i] - b[i]))
            scale = max(scale, abs(b[i]))
        }
        return diff / max(scale, 1e-30)
    }

    /// Throws, naming the benchmark and the result, when a result's shape differs or its
    /// relative error exceeds `tolerance`.
    public static func check(_ candidate: [HostTensor], against reference: [HostTensor], tolerance: Double,
                             what: String, names: [String] = []) throws {
        guard candidate.count == reference.count else {
            throw KilnError("\(what): \(candidate.count) results, the reference has \(reference.count)")
        }
        for (i, (c, r)) in zip(candidate, reference).enumerated() {
            let label = i < names.count ? "result \(i) (\(names[i]))" : "result \(i)"
            guard c.shape == r.shape else {
                throw KilnError("\(what): \(label) has shape \(c.shape), the reference \(r.shape)")
            }
            let e = relativeError(c, r)
            if !(e <= tolerance) {
                throw KilnError("\(what): \(label) differs from the reference by \(e) relative to its largest entry (tolerance \(tolerance)); refusing to time a wrong result")
            }
        }
    }
}
