import Foundation
import Kiln

/// `kiln run --ab-env KEY=VALUE`: a codegen experiment timed against the unchanged build in one
/// process. On a shared machine the same kernel's time moves by 20-50% between processes a few
/// seconds apart, so two separate `kiln run`s cannot resolve a 5% change; runs alternating every
/// few milliseconds in one process see the same machine.
struct ABExperiment {
    let key: String
    let value: String

    /// Parses KEY=VALUE (KEY a non-empty environment variable name).
    init(parsing text: String) throws {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw KilnError("--ab-env \(text): expected KEY=VALUE, e.g. KILN_EXP=spread")
        }
        key = String(text[..<eq])
        value = String(text[text.index(after: eq)...])
        guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw KilnError("--ab-env \(text): '\(key)' is not an environment variable name")
        }
    }

    /// Compiles the function that `prepare` returns (the traced graph, through the pass pipeline
    /// when the run uses it) with KEY=VALUE set: both the passes and the codegen see it. The
    /// previous value is restored afterwards. The compile cache is emptied first, or the second
    /// compile would be a hit.
    func compileVariant(kind: ExecutorKind, threads: Int?, prepare: () throws -> Function) throws -> Executable {
        let previous = ProcessInfo.processInfo.environment[key]
        CompileCache.shared.removeAll()
        setenv(key, value, 1)
        defer {
            if let previous { setenv(key, previous, 1) } else { unsetenv(key) }
            CompileCache.shared.removeAll()
        }
        return try Executable(try prepare(), kind: kind, threads: threads)
    }

    /// Times `a` and `b` in `rounds` alternating rounds (AB, then BA, so neither always runs
    /// second) after one warm-up each, and checks that their results agree. A round times the
    /// kernels alone (`timeSteps`): copying the inputs into the arena and the results out took
    /// about a quarter of a whole `run` of a linear-attention layer and diluted the ratio.
    func compare(_ a: Executable, _ b: Executable, inputs: [String: HostTensor], rounds: Int) throws -> String {
        let ra = try a.run(inputs), rb = try b.run(inputs)
        var worst = 0.0
        for (x, y) in zip(ra, rb) {
            for (u, v) in zip(x.doubles, y.doubles) {
                let d = (u - v).magnitude
                if d.isNaN || d > worst { worst = d }  // a NaN sticks: nothing compares greater
            }
        }
        var ta: [Double] = [], tb: [Double] = []
        func time(_ e: Executable) throws -> Double { try e.timeSteps(inputs, repeats: 1)[0] * 1e3 }
        for r in 0..<rounds {
            if r % 2 == 0 { ta.append(try time(a)); tb.append(try time(b)) } else { tb.append(try time(b)); ta.append(try time(a)) }
        }
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        let ratios = zip(ta, tb).map { $1 / $0 }.sorted()
        let quartiles = (ratios[ratios.count / 4], ratios[(3 * ratios.count) / 4])
        return String(format: """
            A/B %@=%@ over %d alternating rounds (kernels only, inputs already in place):
              A (environment as is)  median %.3f ms, min %.3f ms
              B (%@=%@)  median %.3f ms, min %.3f ms
              B/A per round: median %.3f (quartiles %.3f-%.3f); results differ by at most %.3g
            """, key, value, rounds, median(ta), ta.min()!, key, value, median(tb), tb.min()!,
            median(ratios), quartiles.0, quartiles.1, worst)
    }
}
