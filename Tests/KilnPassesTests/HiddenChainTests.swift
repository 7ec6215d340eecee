import XCTest
import Kiln

/// `RowSchedule.hiddenChains`: which back-to-back row matmuls run slice by slice, and which
/// chain values get a slice buffer.
final class HiddenChainTests: XCTestCase {
    /// A sequence block whose hidden value %1 is also a result, read after the exit by `reader`.
    func chains(reader: String) throws -> [HiddenChain] {
        let text = """
        func @b(%x: f32[1,8,16], param %w1: f32[16,64], param %w2: f32[64,16]) -> (f32[1,8,16], f32[1,8,64], \(reader.contains("reduce") ? "f32[64]" : "f32[1,8,64]")) {
          %0 = linear %x, %w1 : f32[1,8,64]
          %1 = gelu %0 {approximate = none} : f32[1,8,64]
          %2 = linear %1, %w2 : f32[1,8,16]
          %3 = \(reader)
          return %2, %1, %3
        }
        """
        let f = try parseFunction(text, file: "chain.kir")
        try f.verify()
        return try RowSchedule(body: f).hiddenChains(body: f)
    }

    /// A result may leave the chain (written slice by slice) when what reads it after the exit
    /// is a reduction over pixels; a same-row pointwise reader keeps the block unsliced, since
    /// the chain writes the value only at the exit's row.
    func testAResultLeavesTheChainOnlyForPixelReductions() throws {
        let reduced = try chains(reader: "reduce_sum %1 {axes = [0,1], keepdims = false} : f32[64]")
        XCTAssertEqual(reduced.count, 1)
        XCTAssertEqual(reduced.first?.hidden, 64)
        XCTAssertEqual(reduced.first?.stored.count, 2, "the matmul output and the exported GELU output")
        XCTAssertTrue(try chains(reader: "mul %1, %1 : f32[1,8,64]").isEmpty)
    }

    /// Pointwise values with one reader in the chain are evaluated inside it: no slice buffer.
    func testSingleUsePointwiseValuesAreInlined() throws {
        let text = """
        func @b(%x: f32[1,8,16], param %w1: f32[16,64], param %w2: f32[64,16]) -> (f32[1,8,16]) {
          %0 = linear %x, %w1 : f32[1,8,64]
          %1 = exp %0 : f32[1,8,64]
          %2 = mul %1, %0 : f32[1,8,64]
          %3 = linear %2, %w2 : f32[1,8,16]
          return %3
        }
        """
        let f = try parseFunction(text, file: "inline.kir")
        let c = try XCTUnwrap(try RowSchedule(body: f).hiddenChains(body: f).first)
        XCTAssertEqual(c.values.count, 3)
        XCTAssertEqual(c.stored.map { f.name(of: $0) }, ["0", "2"], "exp's output is read once, inside the mul")
    }
}
