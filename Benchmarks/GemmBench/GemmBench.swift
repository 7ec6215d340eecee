// kiln-gemm-bench: Kiln's JIT-compiled sgemm against OpenBLAS's cblas_sgemm, single thread,
// in the same run on the same 64-byte-aligned buffers. Per shape: median time of each after
// warm-up (measurements interleaved in rounds so machine noise hits both), GFLOP/s, ratio.
//
//   swift run -c release kiln-gemm-bench [--json FILE] [--quick] [--shapes MxNxK,...] [--threads N] [--avx2]
//                                        [--kc N] [--mc-panels N] [--nc N] [--direct-a FLOATS] [--direct-b FLOATS]   (blocking experiments)
import COpenBLAS
import Foundation
import KilnCodegen

struct Record: Codable {
    var m: Int, n: Int, k: Int
    var kiln_us: Double, openblas_us: Double
    var kiln_gflops: Double, openblas_gflops: Double
    var ratio: Double, target: Double
}

@main
enum GemmBench {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Median seconds per call over samples collected for at least `time` seconds.
    static func samples(time: Double, minCount: Int = 5, _ body: () -> Void) -> [Double] {
        var out: [Double] = []
        let start = now()
        repeat {
            let t0 = now()
            body()
            out.append(Double(now() - t0) / 1e9)
        } while (Double(now() - start) / 1e9 < time || out.count < minCount) && out.count < 20000
        return out
    }

    static func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

    static func main() throws {
        let args = CommandLine.arguments
        let jsonPath = args.firstIndex(of: "--json").map { args[$0 + 1] }
        let quick = args.contains("--quick")
        var shapes: [(Int, Int, Int, Double)] = [
            (64, 64, 64, 1.3), (128, 128, 128, 1.3), (256, 256, 256, 1.0), (512, 512, 512, 1.0), (1024, 1024, 1024, 1.0),
            (3136, 96, 384, 1.0), (3136, 384, 96, 1.0), (4096, 512, 2048, 1.0),
        ]
        if let i = args.firstIndex(of: "--shapes") {
            shapes = args[i + 1].split(separator: ",").map {
                let d = $0.split(separator: "x").map { Int($0)! }
                return (d[0], d[1], d[2], 1.0)
            }
        }
        let threads = args.firstIndex(of: "--threads").map { Int(args[$0 + 1])! } ?? 1
        openblas_set_num_threads(Int32(threads))
        func option(_ name: String, _ d: Int) -> Int { args.firstIndex(of: name).map { Int(args[$0 + 1])! } ?? d }
        let target = args.contains("--avx2") ? HostTarget.avx2 : HostTarget.host
        let compileStart = now()
        let gemm = try Gemm(target: target, kc: option("--kc", Gemm.defaultKC), mcPanels: option("--mc-panels", Gemm.defaultMCPanels),
                            nc: option("--nc", Gemm.defaultNC), directBLimit: option("--direct-b", Gemm.defaultDirectBLimit),
                            directALimit: option("--direct-a", Gemm.defaultDirectALimit),
                            maxThreads: threads)
        let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
        let compileMs = Double(now() - compileStart) / 1e6
        print("Kiln: \(gemm.target)  tile \(gemm.tile)  kc=\(gemm.kc) mc=\(gemm.mc) nc=\(gemm.nc)  JIT compile \(String(format: "%.0f", compileMs)) ms")
        print("OpenBLAS: core \(core), threads \(openblas_get_num_threads()); Kiln threads \(threads)")
        print("     M      N      K   Kiln GF/s  OpenBLAS GF/s   ratio  target")
        var records: [Record] = []
        for (m, n, k, target) in shapes {
            func buffer(_ count: Int, _ seed: Int) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
                var s = UInt64(seed)
                for i in 0..<count { s = s &* 6364136223846793005 &+ 1442695040888963407; p[i] = Float(Int(s >> 40) % 2001 - 1000) / 1000 }
                return p
            }
            let a = buffer(m * k, 1), b = buffer(k * n, 2), c1 = buffer(m * n, 3), c2 = buffer(m * n, 4)
            defer { a.deallocate(); b.deallocate(); c1.deallocate(); c2.deallocate() }
            let flops = 2.0 * Double(m) * Double(n) * Double(k)
            let kiln = { gemm.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c1, ldc: n, threads: threads) }
            let blas = {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c2, Int32(n))
            }
            // Warm-up (page faults, caches, frequency), then interleaved rounds.
            _ = samples(time: 0.05, kiln)
            _ = samples(time: 0.05, blas)
            let rounds = 5, time = (quick ? 0.3 : 1.5) / Double(rounds)
            var tk: [Double] = [], tb: [Double] = []
            for _ in 0..<rounds {
                tk += samples(time: time, kiln)
                tb += samples(time: time, blas)
            }
            var worst: Float = 0
            for i in 0..<(m * n) { worst = max(worst, abs(c1[i] - c2[i]) / (1 + abs(c2[i]))) }
            precondition(worst < 1e-3, "Kiln and OpenBLAS disagree at \(m)x\(n)x\(k): \(worst)")
            let kt = median(tk), bt = median(tb)
            let r = Record(m: m, n: n, k: k, kiln_us: kt * 1e6, openblas_us: bt * 1e6, kiln_gflops: flops / kt / 1e9,
                           openblas_gflops: flops / bt / 1e9, ratio: bt / kt, target: target)
            records.append(r)
            print(String(format: "%6d %6d %6d %11.1f %14.1f %7.2fx %6.1fx", m, n, k, r.kiln_gflops, r.openblas_gflops, r.ratio, target)
                  + (r.ratio >= target ? "" : "  (below target)"))
        }
        if let jsonPath {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(records).write(to: URL(fileURLWithPath: jsonPath))
            print("wrote \(jsonPath)")
        }
    }
}
