import KilnRuntime

/// time(T) / time(T_short) of one linear-attention configuration, from alternating rounds.
///
/// Separate medians of the two lengths, measured a minute apart, pick up whatever the shared
/// machine was doing at each moment: on the 2-vCPU VMs of sessions 7-13 one configuration's
/// median moved by 30% between runs minutes apart, which swamped the 10% margin of the
/// "linear in T" target (time(64k) / time(4k) ≤ 17.6). Each round here times one long run and
/// then `T / T_short` short runs (about the same wall time), so both lengths see the same
/// moment; the round's ratio is the long time over the short runs' median, and the result is
/// the median over rounds, as `kiln run --ab-env` does for two builds.
struct PairedLengthRatio {
    var rounds = 7

    struct Side {
        let executable: Executable
        let inputs: [String: HostTensor]
        let seqLen: Int
    }

    /// The median per-round ratio and each round's ratio.
    func measure(long: Side, short: Side) throws -> (median: Double, perRound: [Double]) {
        let shortRuns = max(1, Int((Double(long.seqLen) / Double(short.seqLen)).rounded()))
        var ratios: [Double] = []
        for _ in 0..<max(rounds, 1) {
            let l = try long.executable.timeSteps(long.inputs, repeats: 1)[0]
            let s = LinearAttentionBench.median(try short.executable.timeSteps(short.inputs, repeats: shortRuns))
            ratios.append(l / max(s, 1e-12))
        }
        return (LinearAttentionBench.median(ratios), ratios)
    }
}
