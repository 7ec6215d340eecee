import XCTest
import KilnIR
@testable import KilnCodegen
@testable import KilnRuntime

/// `run` reads f32 inputs where the caller's arrays hold them and writes results straight into
/// the arrays it returns (Executable+Binding.swift).
final class CallerBindingTests: XCTestCase {
    /// A computed result, the same result twice, and arguments returned as they are.
    let mix = """
    func @mix(%x: f32[3,37], %y: f32[37]) -> (f32[3,37], f32[3,37], f32[3,37], f32[37]) {
      %0 = add %x, %y : f32[3,37]
      %1 = tanh %0 : f32[3,37]
      return %1, %x, %1, %y
    }
    """

    /// A copy with storage of its own (assigning an array shares its storage until a write).
    func deepCopy(_ inputs: [String: HostTensor]) -> [String: HostTensor] {
        inputs.mapValues { HostTensor(shape: $0.shape, floats: $0.floats.map { $0 }) }
    }

    func testResultsAreFreshArraysAndInputsStayUntouched() throws {
        let f = try parseFunction(mix, file: "mix.kir")
        let a = seededInputs(f, seed: 1), b = seededInputs(f, seed: 2)
        let aBefore = deepCopy(a)
        let want = try Interpreter().run(f, inputs: a)
        defer { Executable.bindsCallerMemory = true }
        for kind in ExecutorKind.allCases {
            for threads in [1, 2] {
                let e = try Executable(f, kind: kind, threads: threads)
                Executable.bindsCallerMemory = true
                let got = try e.run(a)
                XCTAssertEqual(got.map(\.shape), want.map(\.shape))
                XCTAssertEqual(got[1].floats, a["x"]!.floats, "\(kind) \(threads): an argument comes back unchanged")
                XCTAssertEqual(got[3].floats, a["y"]!.floats, "\(kind) \(threads)")
                XCTAssertEqual(got[0].floats, got[2].floats, "\(kind) \(threads): a repeated result")
                for (g, w) in zip(got[0].floats, want[0].floats) { XCTAssertEqual(g, w, accuracy: 1e-5, "\(kind) \(threads)") }
                // The next run must not write into the arrays this one returned.
                let next = try e.run(b)
                XCTAssertEqual(try e.run(a), got, "\(kind) \(threads): results of a run stay as returned")
                XCTAssertNotEqual(next[0], got[0], "\(kind) \(threads): different inputs")
                XCTAssertEqual(a, aBefore, "\(kind) \(threads): no kernel writes into the caller's inputs")
                // Copying through the arena gives the same bits.
                Executable.bindsCallerMemory = false
                XCTAssertEqual(try e.run(a), got, "\(kind) \(threads): bound in place vs copied")
            }
        }
    }

    /// An argument some step writes is copied, never bound: the analysis sees every kind of write.
    func testWrittenArgumentsAreCopiedNotBound() throws {
        func buffer(_ name: String, _ role: KernelBuffer.Role) -> KernelBuffer {
            KernelBuffer(name: name, elements: 64, isInt: false, role: role, constant: nil)
        }
        let buffers = ["a", "b", "c", "d", "e"].map { buffer($0, .input) } + [buffer("out", .output)]
        let i: KExpr = .ivar("i")
        let store = KernelFunction(name: "k", buffers: [0, 5], parallelCount: 1, body: [
            .loop("i", .int(64), parallel: false, [.store(0, i, .load(0, i)), .store(5, i, .load(0, i))]),
        ])
        let gemm = GemmCall(m: 8, n: 8, k: 8, a: 4, b: 4, c: 1, aOffset: 0, bOffset: 0, cOffset: 0, accumulate: true)
        let carry = KernelStep.repeatSteps(count: 2, steps: [.gemm(gemm)], carry: [(4, 2, 64)])
        let transpose = KernelFunction(name: "t", buffers: [4, 3], parallelCount: 1, body: [
            .transpose(TileTranspose(rows: 8, cols: 8, src: 4, srcOffset: 0, srcLd: 8, dst: 3, dstOffset: 0, dstLd: 8)),
        ])
        let p = KernelProgram(name: "w", buffers: buffers, steps: [.kernel(store), carry, .kernel(transpose)],
                              argumentBuffers: [0, 1, 2, 3, 4], resultBuffers: [5, 0])
        XCTAssertEqual(p.writtenBuffers, [0, 1, 2, 3, 5])
        let binding = CallerBinding(p)
        XCTAssertEqual(binding.readOnlyArguments, [4], "only the argument nothing writes")
        XCTAssertEqual(binding.directResults, [true, false], "a returned argument is copied out")
    }
}
