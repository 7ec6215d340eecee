// kiln-gemm-bench: Kiln's JIT-compiled GEMM against OpenBLAS's cblas_sgemm, single thread,
// same run, same buffers. Prints median GFLOP/s of each and the ratio per shape.
//
//   swift run -c release kiln-gemm-bench [--json FILE] [--quick]
import COpenBLAS
import Foundation
import KilnCodegen

struct Record: Codable {
    var m: Int, n: Int, k: Int
    var kiln_ms: Double, openblas_ms: Double
    var kiln_gflops: Double, openblas_gflops: Double
    var ratio: Double, target: Double
}

func medianSeconds(minTime: Double, _ body: () -> Void) -> Double {
    body()  // warm-up
    var samples: [Double] = []
    let start = Date()
    repeat {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    } while (Date().timeIntervalSince(start) < minTime || samples.count < 5) && samples.count < 2000
    samples.sort()
    return samples[samples.count / 2]
}

let args = CommandLine.arguments
let jsonPath = args.firstIndex(of: "--json").map { args[$0 + 1] }
let quick = args.contains("--quick")
openblas_set_num_threads(1)
let gemm = try Gemm()
print("target: \(gemm.target)  tile \(gemm.tile.mr)x\(gemm.tile.nr)  OpenBLAS threads: \(openblas_get_num_threads())")
let shapes: [(Int, Int, Int, Double)] = [
    (64, 64, 64, 1.3), (128, 128, 128, 1.3), (256, 256, 256, 1.0), (512, 512, 512, 1.0), (1024, 1024, 1024, 1.0),
    (3136, 96, 384, 1.0), (3136, 384, 96, 1.0), (4096, 512, 2048, 1.0),
]
print("     M      N      K   Kiln GF/s  OpenBLAS GF/s   ratio  target")
var records: [Record] = []
for (m, n, k, target) in shapes {
    let a = (0..<(m * k)).map { _ in Float.random(in: -1...1) }
    let b = (0..<(k * n)).map { _ in Float.random(in: -1...1) }
    var c1 = [Float](repeating: 0, count: m * n), c2 = c1
    let flops = 2.0 * Double(m) * Double(n) * Double(k)
    let minTime = quick ? 0.2 : 1.0
    // Interleave the two measurements so machine noise hits both.
    var tk: [Double] = [], tb: [Double] = []
    for _ in 0..<3 {
        tk.append(medianSeconds(minTime: minTime / 3) { c1.withUnsafeMutableBufferPointer { gemm.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: $0.baseAddress!, ldc: n) } })
        tb.append(medianSeconds(minTime: minTime / 3) { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c2, Int32(n)) })
    }
    let kt = tk.sorted()[1], bt = tb.sorted()[1]
    let worst = zip(c1, c2).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0
    precondition(worst < 1e-3, "Kiln and OpenBLAS disagree at \(m)x\(n)x\(k): \(worst)")
    let r = Record(m: m, n: n, k: k, kiln_ms: kt * 1e3, openblas_ms: bt * 1e3, kiln_gflops: flops / kt / 1e9,
                   openblas_gflops: flops / bt / 1e9, ratio: bt / kt, target: target)
    records.append(r)
    print(String(format: "%6d %6d %6d %11.1f %14.1f %7.2fx %6.1fx%@", m, n, k, r.kiln_gflops, r.openblas_gflops, r.ratio, target,
                 r.ratio >= target ? "" : "  (below target)"))
}
if let jsonPath {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(records).write(to: URL(fileURLWithPath: jsonPath))
    print("wrote \(jsonPath)")
}
