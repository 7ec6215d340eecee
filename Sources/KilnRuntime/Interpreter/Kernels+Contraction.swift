import KilnIR

extension Kernels {
    /// C[m,n] += A[m,k] B[k,n] on raw buffers, i-k-j order so the inner loop is contiguous.
    static func gemm(_ a: UnsafeBufferPointer<S>, _ b: UnsafeBufferPointer<S>, _ c: UnsafeMutableBufferPointer<S>,
                     m: Int, n: Int, k: Int, aOff: Int = 0, bOff: Int = 0, cOff: Int = 0) {
        for i in 0..<m {
            let crow = cOff + i * n
            for p in 0..<k {
                let av = a[aOff + i * k + p]
                if av == 0 { continue }
                let brow = bOff + p * n
                for j in 0..<n { c[crow + j] += av * b[brow + j] }
            }
        }
    }

    static func matmul(_ a: [S], _ sa: [Int], _ b: [S], _ sb: [Int], _ so: [Int]) -> [S] {
        let m = sa[sa.count - 2], k = sa[sa.count - 1], n = sb[sb.count - 1]
        let batchShape = Array(so.dropLast(2))
        let batch = batchShape.reduce(1, *)
        let ta = broadcastStrides(Array(sa.dropLast(2)), to: batchShape)
        let tb = broadcastStrides(Array(sb.dropLast(2)), to: batchShape)
        var out = [S](repeating: 0, count: batch * m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    forEachIndex(batchShape) { bi, idx in
                        var oa = 0, ob = 0
                        for d in 0..<idx.count { oa += idx[d] * ta[d]; ob += idx[d] * tb[d] }
                        gemm(pa, pb, pc, m: m, n: n, k: k, aOff: oa * m * k, bOff: ob * k * n, cOff: bi * m * n)
                    }
                }
            }
        }
        return out
    }

    static func linear(_ x: [S], _ w: [S], _ bias: [S]?, k: Int, n: Int) -> [S] {
        let m = x.count / k
        var out = [S](repeating: 0, count: m * n)
        if let bias { for i in 0..<m { for j in 0..<n { out[i * n + j] = bias[j] } } }
        x.withUnsafeBufferPointer { px in
            w.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { pc in gemm(px, pw, pc, m: m, n: n, k: k) }
            }
        }
        return out
    }

    static func embedding(_ table: [S], rows: Int, dim: Int, _ ids: [Int32]) throws -> [S] {
        var out = [S]()
        out.reserveCapacity(ids.count * dim)
        for id in ids {
            guard id >= 0, Int(id) < rows else {
                throw RuntimeError("embedding: id \(id) is outside the table's \(rows) rows")
            }
            out += table[Int(id) * dim..<(Int(id) + 1) * dim]
        }
        return out
    }
}
