import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// Replays every checked-in fuzz finding (Tests/Corpus/fuzz/<target>/) through the same
/// entry the fuzz target calls (Fuzz/Fuzz*.swift). Each input must be accepted or refused
/// with the reader's own error type, never crash; when `NAME.expect` exists, the input must
/// be refused with an error containing its text.
final class FuzzCorpusReplayTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Corpus/fuzz")

    /// (input name, bytes, expected error text or nil) for one target.
    func inputs(_ target: String) throws -> [(String, [UInt8], String?)] {
        let dir = Self.corpus.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { !$0.hasSuffix(".expect") && !$0.hasSuffix(".md") }.sorted()
        return try names.map { name in
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            let expect = try? String(contentsOf: dir.appendingPathComponent(name + ".expect"), encoding: .utf8)
            return (name, bytes, expect?.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Runs `body`; checks the outcome against the expectation and the allowed error type.
    func replay<E: Error>(_ target: String, as: E.Type, _ body: ([UInt8]) throws -> Void) throws {
        let all = try inputs(target)
        for (name, bytes, expect) in all {
            do {
                try body(bytes)
                if let expect { XCTFail("\(target)/\(name): accepted, but should fail with '\(expect)'") }
            } catch let error as E {
                if let expect { XCTAssertTrue("\(error)".contains(expect), "\(target)/\(name): '\(expect)' not in: \(error)") }
            } catch {
                XCTFail("\(target)/\(name): unexpected error type \(type(of: error)): \(error)")
            }
        }
    }

    func testIRParser() throws {
        try replay("ir", as: IRError.self) { bytes in
            do {
                let f = try parseFunction(bytes: bytes, file: "fuzz.kir")
                XCTAssertEqual(try parseFunction(f.printed(), file: "printed.kir"), f)
            } catch let error as IRError {
                XCTAssertNotNil(error.location, "\(error)")
                throw error
            }
        }
    }

    func testNPY() throws {
        try replay("npy", as: TensorFileError.self) { bytes in
            let t = try NPY.read(data: bytes, name: "fuzz.npy")
            XCTAssertEqual(try NPY.read(data: NPY.encode(t), name: "re.npy"), t)
        }
    }

    func testSafeTensors() throws {
        try replay("safetensors", as: TensorFileError.self) { bytes in
            let ts = try SafeTensors.read(data: bytes, name: "fuzz.safetensors")
            XCTAssertEqual(Set(ts.map(\.name)).count, ts.count)
        }
    }

    func testArguments() throws {
        try replay("arguments", as: IRError.self) { bytes in
            let cut = bytes.firstIndex(of: 0) ?? bytes.count
            _ = try ArgumentSyntax.parseShape(String(decoding: bytes[..<cut], as: UTF8.self))
            _ = try ArgumentSyntax.parseInputBinding(String(decoding: bytes[min(cut + 1, bytes.count)...], as: UTF8.self))
        }
    }

    /// Duplicate keys used to be deduplicated silently by JSONSerialization: now an error
    /// naming the key, checked here on a file built in the test as well as in the corpus.
    func testDuplicateSafeTensorsNamesAreAnError() throws {
        let t = HostTensor(shape: [1], floats: [1])
        var bytes = try SafeTensors.encode([("a", t), ("b", t)])
        // Rename "b" to "a" in place (same length, so offsets stay valid).
        let header = Array(bytes[8...])
        let at = header.indices.first { header[$0] == UInt8(ascii: "\"") && header[$0 + 1] == UInt8(ascii: "b") && header[$0 + 2] == UInt8(ascii: "\"") }!
        bytes[8 + at + 1] = UInt8(ascii: "a")
        XCTAssertThrowsError(try SafeTensors.read(data: bytes, name: "dup.safetensors")) {
            XCTAssertTrue("\($0)".contains("duplicate key \"a\""), "\($0)")
        }
    }
}
