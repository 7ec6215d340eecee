import XCTest
import KilnIR

/// The command line's shape and `--input` syntax (shared with the argument fuzzer).
final class ArgumentSyntaxTests: XCTestCase {
    func testShapes() throws {
        XCTAssertEqual(try ArgumentSyntax.parseShape("8x56x56x96"), [8, 56, 56, 96])
        XCTAssertEqual(try ArgumentSyntax.parseShape("1,1024,512"), [1, 1024, 512])
        XCTAssertEqual(try ArgumentSyntax.parseShape("3X4"), [3, 4])
        XCTAssertEqual(try ArgumentSyntax.parseShape("7"), [7])
        let bad: [(String, String)] = [
            ("", "empty"), ("x", "'' is not a positive integer"), ("1x", "'' is not a positive integer"),
            ("0x4", "'0' is not a positive integer"), ("-1x4", "'-1'"), ("1e3", "'1e3'"), ("2x 3", "' 3'"),
            ("99999999999999999999x2", "is not a positive integer"), ("1048576x1048576x2", "more than 2^40 elements"),
            (Array(repeating: "1", count: 65).joined(separator: "x"), "at most 64"),
        ]
        for (text, words) in bad {
            XCTAssertThrowsError(try ArgumentSyntax.parseShape(text), text) { error in
                XCTAssertTrue("\(error)".contains(words), "\(text): \(error)")
            }
        }
    }

    func testInputBindings() throws {
        let a = try ArgumentSyntax.parseInputBinding("x=data/x.npy")
        XCTAssertEqual(a.name, "x")
        XCTAssertEqual(a.path, "data/x.npy")
        let b = try ArgumentSyntax.parseInputBinding("x.npy")
        XCTAssertNil(b.name)
        XCTAssertEqual(b.path, "x.npy")
        XCTAssertEqual(try ArgumentSyntax.parseInputBinding("a=b=c.npy").path, "b=c.npy")
        for (spec, words) in [("", "needs a file"), ("=x.npy", "name before '=' is empty"), ("x=", "file after '=' is empty")] {
            XCTAssertThrowsError(try ArgumentSyntax.parseInputBinding(spec), spec) { XCTAssertTrue("\($0)".contains(words), "\($0)") }
        }
    }
}
