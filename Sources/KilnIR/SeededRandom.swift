/// A small, fast, seeded generator (SplitMix64) so parameter initialization and random
/// inputs are identical on every machine and run.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator derived from a seed and a name, so each parameter gets its own stream
    /// independent of the order parameters are visited in.
    public init(seed: UInt64, name: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 // FNV-1a over the name
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        state = seed ^ h
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * nextUniform() }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Double {
        let u1 = Swift.max(nextUniform(), 1e-300), u2 = nextUniform()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// `count` floats uniform in [lo, hi).
    public mutating func uniformFloats(_ count: Int, _ lo: Double, _ hi: Double) -> [Float] {
        (0..<count).map { _ in Float(uniform(lo, hi)) }
    }
}

// Plain libm access without Foundation, so KilnIR stays dependency-free.
@_silgen_name("log") private func _log(_ x: Double) -> Double
@_silgen_name("cos") private func _cos(_ x: Double) -> Double
