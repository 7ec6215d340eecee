import XCTest
@testable import KilnFrontend
import KilnIR

/// Properties every zoo model must have: it traces at its default and a small input, the
/// function verifies, parameters are named, typed and seeded deterministically, and a wrong
/// input is a thrown error, never a trap.
final class ZooTraceTests: XCTestCase {
    func testEveryModelTracesVerifiesAndNamesParameters() throws {
        for m in Zoo.models {
            for input in [m.defaultInput, smallInput(m)] {
                let t = try m.trace(input: input)
                try t.function.verify()
                XCTAssertEqual(t.function.inputs.map(t.function.name(of:)), ["x"], m.name)
                XCTAssertEqual(t.function.type(of: t.function.inputs[0]), input, m.name)
                XCTAssertEqual(t.function.type(of: t.function.results[0]), input, "\(m.name): a residual block keeps its shape")
                let names = t.function.params.map(t.function.name(of:))
                XCTAssertEqual(names, t.parameters.map(\.name), m.name)
                XCTAssertEqual(Set(names).count, names.count, "\(m.name): parameter names are unique")
                for (p, (_, value)) in zip(t.function.params, t.parameters) {
                    XCTAssertEqual(value.type, t.function.type(of: p), m.name)
                    XCTAssertEqual(value.type.dtype, .f32, m.name)
                }
                let dotted = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/
                XCTAssertTrue(names.allSatisfy { $0.wholeMatch(of: dotted) != nil }, "\(m.name): \(names)")
                XCTAssertTrue(names.allSatisfy { $0.hasSuffix("weight") || $0.hasSuffix("bias") || $0.contains("gamma")
                    || $0.hasSuffix("runningMean") || $0.hasSuffix("runningVar") }, "\(m.name): \(names)")
            }
        }
    }

    func testTracingIsDeterministicInTheSeed() throws {
        for m in Zoo.models {
            let input = smallInput(m)
            let a = try m.trace(input: input, seed: 1), b = try m.trace(input: input, seed: 1), c = try m.trace(input: input, seed: 2)
            XCTAssertEqual(a.function, b.function, m.name)
            XCTAssertEqual(a.function, c.function, "\(m.name): the seed changes values, not the graph")
            XCTAssertEqual(a.parameters.map(\.tensor), b.parameters.map(\.tensor), m.name)
            XCTAssertEqual(a.parameters.map(\.name), c.parameters.map(\.name), m.name)
            // Randomly initialized weights differ; constant ones (none in the zoo) would not.
            let randomA = a.parameters.filter { $0.name.hasSuffix("weight") }.map(\.tensor)
            let randomC = c.parameters.filter { $0.name.hasSuffix("weight") }.map(\.tensor)
            XCTAssertFalse(zip(randomA, randomC).contains { $0 == $1 }, "\(m.name): every weight depends on the seed")
        }
    }

    func testValuesDependOnTheNameNotTheOrder() throws {
        // The same parameter name gets the same values in two different models.
        let ffn = try XCTUnwrap(Zoo.model(named: "ffn-block")).trace(input: .f32(1, 4, 512), seed: 3)
        let gla = try XCTUnwrap(Zoo.model(named: "gla-block")).trace(input: .f32(1, 4, 512), seed: 3)
        XCTAssertNotEqual(ffn.parameters[0].tensor, ffn.parameters[1].tensor)
        let ffnNorm = try XCTUnwrap(ffn.parameters.first { $0.name == "norm.weight" })
        let direct = try trace(LayerNorm(512), input: .f32(1, 512), name: "n", seed: 3)
        XCTAssertEqual(direct.parameters.first { $0.name == "weight" }?.tensor.type, ffnNorm.tensor.type)
        XCTAssertNotEqual(gla.parameters[0].tensor, ffnNorm.tensor, "different names, different draws")
    }

    /// Wrong rank, wrong channel count, or a sequence where an image is expected: each model
    /// throws a TraceError naming a layer and the offending type, and never traps.
    func testWrongInputsThrowInsteadOfTrapping() {
        for m in Zoo.models {
            let s = m.defaultInput.shape
            let wrong: [TensorType] = [
                .f32(s.last! + 8),                                  // rank 1
                .f32(4, s.last!),                                   // rank 2
                s.count == 4 ? .f32(1, 8, 8, s[3] + 8) : .f32(1, 16, s[2] + 8),  // wrong channels
                s.count == 4 ? .f32(1, 16, s[3]) : .f32(1, 4, 4, s[2]),          // the other layout's rank
            ]
            for input in wrong {
                do {
                    let t = try m.trace(input: input)
                    // A model may legitimately accept the other layout's rank if every op broadcasts;
                    // then the result must still verify.
                    XCTAssertNoThrow(try t.function.verify(), "\(m.name) at \(input)")
                    XCTAssertNotEqual(input.rank, 1, "\(m.name) accepted \(input)")
                } catch let e as TraceError {
                    XCTAssertTrue(e.message.contains(": "), "\(m.name): \(e.message)")
                } catch {
                    XCTFail("\(m.name) at \(input): not a TraceError: \(error)")
                }
            }
        }
    }
}
