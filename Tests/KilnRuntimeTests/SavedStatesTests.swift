import Foundation
import XCTest
import KilnIR
import KilnPasses
@testable import KilnRuntime

/// A chunkwise forward that saves its chunk-boundary states (`save_states`) and a backward that
/// reads them (`saved_states`), paired by share-linear-attention-states. Oracles: the fp64
/// interpreter's recurrence on each prefix of the sequence (the state before chunk c is the
/// final state after c·C tokens) and its recurrent reverse sweep.
final class SavedStatesTests: XCTestCase {
    typealias Case = ChunkwiseLinearAttentionTests.Case
    static let gates: [LinearAttentionGate] = [.none, .scalar, .key]
    static let cases = [
        Case(c: 16, t: 37, dk: 5, dv: 3, b: 2, h: 3), Case(c: 32, t: 100, dk: 32, dv: 64, b: 2, h: 2), Case(c: 64, t: 64, dk: 128, dv: 128),
        Case(c: 16, t: 1, dk: 8, dv: 8),
    ]

    func scale(_ s: Case) -> Double { 1 / Double(s.dk).squareRoot() }

    /// The first `t` tokens of a [B,T,H,...] operand.
    func prefix(_ values: [Double], _ type: TensorType, _ t: Int) -> (TensorType, [Double]) {
        let row = type.elementCount / (type.shape[0] * type.shape[1])
        var out: [Double] = []
        for b in 0..<type.shape[0] { out += values[(b * type.shape[1] * row)..<((b * type.shape[1] + t) * row)] }
        var shape = type.shape
        shape[1] = t
        return (TensorType(.f32, shape), out)
    }

    func bind(_ types: [TensorType], _ values: [[Double]]) -> [String: HostTensor] {
        var bound: [String: HostTensor] = [:]
        for (i, (t, v)) in zip(types, values).enumerated() { bound["in\(i)"] = HostTensor(shape: t.shape, doubles: v) }
        return bound
    }

    func forward(_ gate: LinearAttentionGate, _ s: Case, types: [TensorType], chunk: Int, save: Bool) throws -> Function {
        let b = FunctionBuilder(name: "la_\(gate)")
        let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
        return b.finish(results: try b.add(.linear_attention, ids, attributes: [
            "gate": .symbol(gate.rawValue), "scale": .float(scale(s)), "chunk": .int(chunk), "final_state": .bool(true), "save_states": .bool(save)]))
    }

    func testSavedStatesAreTheRecurrenceAtChunkBoundaries() throws {
        for gate in Self.gates {
            for (i, s) in Self.cases.enumerated() {
                let (types, values) = ChunkwiseLinearAttentionTests.inputs(gate, s, seed: UInt64(140 + i))
                let f = try forward(gate, s, types: types, chunk: s.c, save: true)
                let chunks = (s.t + s.c - 1) / s.c
                XCTAssertEqual(f.type(of: f.results[2]), TensorType(.f32, [s.b, s.h, chunks, s.dv, s.dk]))
                // Oracle: h0, then the recurrence's final state after each c·C tokens, transposed.
                var want = [Double](repeating: 0, count: s.b * s.h * chunks * s.dk * s.dv)
                for ci in 0..<chunks {
                    var state = values.last!
                    if ci > 0 {
                        let sliced = zip(types, values).enumerated().map { k, tv in k == types.count - 1 ? tv : prefix(tv.1, tv.0, ci * s.c) }
                        let g = try forward(gate, s, types: sliced.map(\.0), chunk: 0, save: false)
                        state = try Interpreter(precision: .f64).run(g, inputs: bind(sliced.map(\.0), sliced.map(\.1)))[1].doubles
                    }
                    for bh in 0..<(s.b * s.h) {
                        for d in 0..<s.dk {
                            for j in 0..<s.dv { want[((bh * chunks + ci) * s.dv + j) * s.dk + d] = state[(bh * s.dk + d) * s.dv + j] }
                        }
                    }
                }
                let interpreted = try Interpreter(precision: .f64).run(f, inputs: bind(types, values))[2].doubles
                let compiled = try Executable(f, kind: .compiled, threads: 2).run(bind(types, values))[2].doubles
                for (name, got) in [("interpreter", interpreted), ("compiled", compiled)] {
                    let err = ChunkwiseLinearAttentionTests.relativeRMS(got, want)
                    XCTAssertLessThanOrEqual(err, ChunkwiseLinearAttentionTests.tolerance(gate), "\(gate) \(s) \(name) states")
                }
            }
        }
    }

    /// Forward and backward over the same operands, as the VJP builds them; `share` runs the pass.
    func training(_ gate: LinearAttentionGate, _ s: Case, types: [TensorType], chunk: Int, share: Bool) throws -> Function {
        let b = FunctionBuilder(name: "la_train_\(gate)")
        let ids = try types.enumerated().map { try b.addInput("in\($0.offset)", $0.element) }
        let fwdIns = Array(ids.prefix(types.count - 2))
        let attrs: Attributes = ["gate": .symbol(gate.rawValue), "scale": .float(scale(s)), "chunk": .int(chunk)]
        var fattrs = attrs
        fattrs["final_state"] = .bool(true)
        let outs = try b.add(.linear_attention, fwdIns, attributes: fattrs)
        var battrs = attrs
        battrs["has_h0"] = .bool(true)
        let grads = try b.add(.linear_attention_backward, ids, attributes: battrs)
        let f = b.finish(results: outs + grads)
        return share ? try ShareLinearAttentionStates().run(f, context: PassContext()).function : f
    }

    func testBackwardFromSavedStatesMatchesRecurrence() throws {
        for gate in Self.gates {
            for (i, s) in Self.cases.enumerated() {
                let (types, values) = ChunkwiseLinearAttentionTests.backwardInputs(gate, s, seed: UInt64(170 + i))
                let shared = try training(gate, s, types: types, chunk: s.c, share: true)
                let la = shared.nodes.first { $0.op == .linear_attention }!, bw = shared.nodes.first { $0.op == .linear_attention_backward }!
                XCTAssertTrue(la.attributes.bool("save_states") && bw.attributes.bool("saved_states"), "\(gate) \(s): not paired")
                XCTAssertEqual(bw.inputs.last, la.outputs.last)
                let want = try Interpreter(precision: .f64).run(try training(gate, s, types: types, chunk: 0, share: false), inputs: bind(types, values))
                let interpreted = try Interpreter(precision: .f64).run(shared, inputs: bind(types, values))
                let compiled = try Executable(shared, kind: .compiled, threads: 2).run(bind(types, values))
                let names = ["o", "final state", "dq", "dk", "dv"] + (gate.hasGateOperand ? ["dg"] : []) + ["dh0"]
                for (name, k) in zip(names, names.indices) {
                    for (run, got) in [("interpreter", interpreted[k].doubles), ("compiled", compiled[k].doubles)] {
                        XCTAssertTrue(got.allSatisfy(\.isFinite), "\(gate) \(s) \(run) \(name) not finite")
                        let err = ChunkwiseLinearAttentionTests.relativeRMS(got, want[k].doubles)
                        XCTAssertLessThanOrEqual(err, ChunkwiseLinearAttentionTests.tolerance(gate), "\(gate) \(s) \(run) \(name)")
                    }
                }
            }
        }
    }

    func testStrongAndZeroGatesThroughSavedStates() throws {
        let s = Case(c: 32, t: 80, dk: 32, dv: 16)
        for gate in [LinearAttentionGate.scalar, .key] {
            for gv in [-30.0, 0.0] {
                let (types, values) = ChunkwiseLinearAttentionTests.backwardInputs(gate, s, seed: 5, gateValue: gv)
                let want = try Interpreter(precision: .f64).run(try training(gate, s, types: types, chunk: 0, share: false), inputs: bind(types, values))
                let got = try Executable(try training(gate, s, types: types, chunk: s.c, share: true), kind: .compiled, threads: 2).run(bind(types, values))
                for k in want.indices {
                    XCTAssertTrue(got[k].doubles.allSatisfy(\.isFinite), "\(gate) g=\(gv) result \(k) not finite")
                    XCTAssertLessThanOrEqual(ChunkwiseLinearAttentionTests.relativeRMS(got[k].doubles, want[k].doubles),
                                             ChunkwiseLinearAttentionTests.tolerance(gate), "\(gate) g=\(gv) result \(k)")
                }
            }
        }
    }
}
