import XCTest
import Kiln

final class PassPipelineTests: XCTestCase {
    func testUnknownPassIsNamed() throws {
        let f = try Zoo.model(named: "ffn-block")!.trace(seed: 0).function
        XCTAssertThrowsError(try PassPipeline.all.run(f, through: "fuse-everything")) { e in
            XCTAssert("\(e)".contains("unknown pass 'fuse-everything'"), "\(e)")
            XCTAssert("\(e)".contains("fuse-residual-blocks"), "\(e)")
        }
    }
}
