import Foundation

/// OpenBLAS's worker threads spin for about 2^28 cycles after each call before they sleep.
/// On a 2-core machine they then take CPU from whatever runs next, so in `kiln bench`, which
/// alternates the two variants run by run, every fused run after an OpenBLAS run was timed
/// with a spinning thread beside it (the FFN block: 110-114 ms instead of 96-100 ms; the
/// unfused variant lost 3-9% to its own spinners too). OpenBLAS reads
/// `OPENBLAS_THREAD_TIMEOUT` only when it loads, so the command sets the shortest timeout
/// and runs itself again; an explicit setting is left alone.
enum OpenBLASSpinGuard {
    static let variable = "OPENBLAS_THREAD_TIMEOUT"

    /// Re-executes the process with the timeout set, unless it already is (then returns).
    static func ensureShortTimeout() {
        guard ProcessInfo.processInfo.environment[variable] == nil else { return }
        setenv(variable, "4", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only on failure: go on with OpenBLAS's default.
        FileHandle.standardError.write(Data("note: could not re-run with \(variable)=4; OpenBLAS threads may spin into the next measurement\n".utf8))
    }
}
