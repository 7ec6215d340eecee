import Dispatch

/// Times a body: warm-up runs, then timed runs until both a minimum total time and a
/// minimum count are reached (or a cap on runs), and reports median and minimum.
///
/// The median, not the mean, because the machine is shared: a run that loses its core to
/// another process is an outlier in one direction only.
public struct MedianTimer: Sendable {
    public var warmupRuns: Int
    /// Keep running until this many seconds of timed runs have accumulated...
    public var minSeconds: Double
    /// ...and at least this many runs were timed.
    public var minRuns: Int
    /// Never more runs than this (tiny bodies would otherwise run millions of times).
    public var maxRuns: Int
    /// Monotonic clock in seconds; injectable so tests can check the statistics exactly.
    public var clock: @Sendable () -> Double

    public init(warmupRuns: Int = 1, minSeconds: Double = 1, minRuns: Int = 5, maxRuns: Int = 1000,
                clock: @escaping @Sendable () -> Double = MedianTimer.monotonicSeconds) {
        self.warmupRuns = warmupRuns
        self.minSeconds = minSeconds
        self.minRuns = max(minRuns, 1)
        self.maxRuns = max(maxRuns, self.minRuns)
        self.clock = clock
    }

    /// Settings for `--quick`: one warm-up, three runs, 0.1 s.
    public static let quick = MedianTimer(warmupRuns: 1, minSeconds: 0.1, minRuns: 3)

    @Sendable public static func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    /// Runs `body` as configured and returns the statistics of the timed runs.
    public func measure(_ body: () throws -> Void) rethrows -> TimingSample {
        for _ in 0..<warmupRuns { try body() }
        var samples: [Double] = []
        var total = 0.0
        while samples.count < maxRuns && (samples.count < minRuns || total < minSeconds) {
            let t0 = clock()
            try body()
            let dt = clock() - t0
            samples.append(dt)
            total += dt
        }
        return TimingSample(samples)
    }

    /// Times several bodies in alternation (a, b, a, b, ...) until each has met the
    /// conditions, so load from other processes falls on all of them alike and their
    /// ratio stays meaningful on a shared machine. One sample per body, in order.
    public func measureInterleaved(_ bodies: [() throws -> Void]) throws -> [TimingSample] {
        try measureInterleaved(bodies, probe: nil).bodies
    }

    /// `measureInterleaved`, with a `probe` timed alongside: it runs after the first body timed
    /// in every `stride`-th round for as long as any body is still being timed, where `stride`
    /// (from the first round's times) keeps the probe's share of the time to about a third.
    /// The probe measures the machine (a reference sgemm) under the load the bodies see.
    public func measureInterleaved(_ bodies: [() throws -> Void], probe: (() throws -> Void)?) throws
        -> (bodies: [TimingSample], probe: TimingSample?) {
        for _ in 0..<warmupRuns {
            for b in bodies { try b() }
            try probe?()
        }
        var samples = [[Double]](repeating: [], count: bodies.count)
        var totals = [Double](repeating: 0, count: bodies.count)
        var probeSamples: [Double] = []
        func done(_ i: Int) -> Bool {
            samples[i].count >= maxRuns || (samples[i].count >= minRuns && totals[i] >= minSeconds)
        }
        func timed(_ body: () throws -> Void) throws -> Double {
            let t0 = clock()
            try body()
            return clock() - t0
        }
        var round = 0, stride = 1
        while !(0..<bodies.count).allSatisfy(done) {
            var probeDue = probe != nil && round % stride == 0
            for (i, b) in bodies.enumerated() where !done(i) {
                let dt = try timed(b)
                samples[i].append(dt)
                totals[i] += dt
                if probeDue, let probe {
                    probeSamples.append(try timed(probe))
                    probeDue = false
                }
            }
            if round == 0, let first = probeSamples.first {
                let roundTime = samples.compactMap(\.first).reduce(0, +)
                stride = max(1, Int((2 * first / max(roundTime, 1e-9)).rounded(.up)))
            }
            round += 1
        }
        return (samples.map(TimingSample.init), probe == nil ? nil : TimingSample(probeSamples))
    }
}

/// Durations of timed runs, in seconds, with their median and minimum.
public struct TimingSample: Sendable, Hashable {
    /// In the order they were taken.
    public var samples: [Double]
    public init(_ samples: [Double]) { self.samples = samples }

    /// Middle value; the mean of the two middle values for an even count.
    public var median: Double {
        guard !samples.isEmpty else { return 0 }
        let s = samples.sorted()
        let m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    public var min: Double { samples.min() ?? 0 }
    public var runs: Int { samples.count }
}
