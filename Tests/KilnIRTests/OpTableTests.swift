import XCTest
@testable import KilnIR

final class OpTableTests: XCTestCase {
    func testEveryOpHasAnEntry() {
        for op in OpKind.allCases { XCTAssertEqual(op.info.kind, op) }
    }

    func testBuilderInfersConvShapeAndFillsDefaults() throws {
        let b = FunctionBuilder(name: "f")
        let x = try b.addInput("x", .f32(1, 56, 56, 96))
        let w = try b.addParam("dw.weight", .f32(7, 7, 1, 96))
        let y = try b.add1(.conv2d, [x, w], attributes: ["padding": .ints([3, 3, 3, 3]), "groups": .int(96)])
        XCTAssertEqual(b.type(of: y), .f32(1, 56, 56, 96))
        let f = b.finish(results: [y])
        XCTAssertEqual(f.nodes[0].attributes["stride"], .ints([1, 1]))
        try f.verify()
    }

    func testShapeErrorNamesBothShapes() throws {
        let b = FunctionBuilder(name: "f")
        let x = try b.addInput("x", .f32(2, 3))
        let y = try b.addInput("y", .f32(4, 5))
        XCTAssertThrowsError(try b.add(.matmul, [x, y])) { e in
            let msg = (e as! IRError).message
            XCTAssertTrue(msg.contains("f32[2,3]") && msg.contains("f32[4,5]"), msg)
        }
    }

    func testVerifierRejectsUseBeforeDefinition() throws {
        let b = FunctionBuilder(name: "f")
        let x = try b.addInput("x", .f32(4))
        let y = try b.add1(.exp, [x])
        let z = try b.add1(.neg, [y])
        var f = b.finish(results: [z])
        f.nodes.swapAt(0, 1)
        XCTAssertThrowsError(try f.verify())
    }

    func testAbsurdDimensionsAreRejected() {
        XCTAssertThrowsError(try TensorType(.f32, [0, 3]).validate())
        XCTAssertThrowsError(try TensorType(.f32, [-1]).validate())
        XCTAssertThrowsError(try TensorType(.f32, [1 << 62, 4]).validate())
    }
}

final class VerifierTests: XCTestCase {
    func base() throws -> Function {
        let b = FunctionBuilder(name: "f")
        let x = try b.addInput("x", .f32(4, 3))
        let y = try b.add1(.exp, [x])
        return b.finish(results: [try b.add1(.reduce_sum, [y], attributes: ["axes": .ints([0])])])
    }

    func testDeclaredTypeMustMatchInferred() throws {
        var f = try base()
        f.values[f.nodes[1].outputs[0].index].type = .f32(4)
        XCTAssertThrowsError(try f.verify()) { XCTAssertTrue("\($0)".contains("declared f32[4] but the op produces f32[3]"), "\($0)") }
    }

    func testDuplicateNames() throws {
        var f = try base()
        f.values[1].name = "x"
        XCTAssertThrowsError(try f.verify()) { XCTAssertTrue("\($0)".contains("defined twice"), "\($0)") }
    }

    func testNonCanonicalAttributes() throws {
        var f = try base()
        f.nodes[1].attributes = ["axes": .ints([0])]
        XCTAssertThrowsError(try f.verify()) { XCTAssertTrue("\($0)".contains("keepdims"), "\($0)") }
    }

    func testResultMustBeDefined() throws {
        var f = try base()
        f.results = [ValueID(99)]
        XCTAssertThrowsError(try f.verify())
    }
}
