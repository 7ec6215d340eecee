import Foundation
import XCTest
import KilnIR
@testable import KilnRuntime

/// .npy and .safetensors against files written by numpy and by a hand-written encoder
/// (Tests/Corpus/tensors/make_fixtures.py); expected values come from that script's formulas.
final class TensorIOTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus/tensors")
    func fixture(_ name: String) -> String { Self.dir.appendingPathComponent(name).path }
    func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent(name))) }

    func testReadsNumpyFiles() throws {
        XCTAssertEqual(try NPY.read(fixture("arange_f32.npy")), HostTensor(shape: [2, 3, 4], floats: (0..<24).map { Float($0) * 0.5 }))
        XCTAssertEqual(try NPY.read(fixture("arange_f64.npy")), HostTensor(shape: [6], doubles: (0..<6).map { Double($0) / 3.0 }))
        XCTAssertEqual(try NPY.read(fixture("ids_i4.npy")), HostTensor(shape: [1, 3], ints: [3, -1, 7]))
        XCTAssertEqual(try NPY.read(fixture("ids_i8.npy")), HostTensor(shape: [3], ints: [5, Int32.max, Int32.min]))
        XCTAssertEqual(try NPY.read(fixture("mask_b1.npy")), HostTensor(shape: [4], data: .bool([true, false, true, true])))
        XCTAssertEqual(try NPY.read(fixture("scalar_f32.npy")), HostTensor(shape: [], floats: [2.5]))
        XCTAssertEqual(try NPY.read(fixture("v2_f32.npy")), HostTensor(shape: [3], floats: [1.25, 1.25, 1.25]))
    }

    func testEncodingIsByteIdenticalToNumpySave() throws {
        for name in ["arange_f32.npy", "arange_f64.npy", "ids_i4.npy", "mask_b1.npy", "scalar_f32.npy"] {
            XCTAssertEqual(NPY.encode(try NPY.read(fixture(name))), try bytes(name), name)
        }
    }

    func testReadsHandWrittenSafetensors() throws {
        let t = try SafeTensors.read(fixture("mixed.safetensors"))
        XCTAssertEqual(t.map(\.name), ["blocks.0.weight", "blocks.0.bias", "ids", "flags"])
        XCTAssertEqual(t[0].tensor, HostTensor(shape: [2, 3], floats: (0..<6).map { Float($0) - 2.5 }))
        XCTAssertEqual(t[1].tensor, HostTensor(shape: [3], doubles: [0.1, 0.2, 0.3]))
        XCTAssertEqual(t[2].tensor, HostTensor(shape: [2], ints: [4, -4]))
        XCTAssertEqual(t[3].tensor, HostTensor(shape: [3], data: .bool([true, false, true])))
    }

    func testRoundTripsEveryDtype() throws {
        let tensors: [(name: String, tensor: HostTensor)] = [
            ("a", HostTensor(shape: [2, 2], floats: [1, -2, .infinity, 0.1])),
            ("b.c", HostTensor(shape: [], doubles: [Double.pi])),
            ("ids", HostTensor(shape: [1], ints: [-7])),
            ("m", HostTensor(shape: [2, 1], data: .bool([false, true]))),
            ("quote\"name", HostTensor(shape: [1, 1, 1], floats: [3])),
        ]
        let back = try SafeTensors.read(data: try SafeTensors.encode(tensors, metadata: ["who": "kiln"]), name: "mem")
        XCTAssertEqual(back.map(\.name), tensors.map(\.name))
        XCTAssertEqual(back.map(\.tensor), tensors.map(\.tensor))
        for (_, t) in tensors { XCTAssertEqual(try NPY.read(data: NPY.encode(t), name: "mem"), t) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-io-\(getpid()).safetensors").path
        try SafeTensors.write(tensors, to: path)
        XCTAssertEqual(try SafeTensors.read(path).map(\.tensor), tensors.map(\.tensor))
    }

    /// Builds a safetensors file from a header string and a buffer.
    func file(_ header: String, _ buffer: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        return (0..<8).map { UInt8(truncatingIfNeeded: h.count >> (8 * $0)) } + h + buffer
    }

    func testMalformedSafetensorsNameFileAndTensor() throws {
        let f4 = [UInt8](repeating: 0, count: 24)
        let cases: [([UInt8], [String])] = [
            ([1, 2, 3], ["too short"]),
            ([255, 255, 255, 255, 0, 0, 0, 0] + f4, ["larger than the file"]),
            (file("{not json", f4), ["not valid JSON"]),
            (file("[1,2]", f4), ["not a JSON object"]),
            (file(#"{"w":{"shape":[6],"data_offsets":[0,24]}}"#, f4), ["tensor 'w'", "dtype"]),
            (file(#"{"w":{"dtype":"F16","shape":[12],"data_offsets":[0,24]}}"#, f4), ["tensor 'w'", "F16"]),
            (file(#"{"w":{"dtype":"F32","shape":[-6],"data_offsets":[0,24]}}"#, f4), ["tensor 'w'", "negative"]),
            (file(#"{"w":{"dtype":"F32","shape":[5,6],"data_offsets":[0,24]}}"#, f4), ["tensor 'w'", "do not match F32[5, 6]"]),
            (file(#"{"w":{"dtype":"F32","shape":[6],"data_offsets":[0,48]}}"#, f4), ["tensor 'w'", "outside"]),
            (file(#"{"w":{"dtype":"F32","shape":[6]}}"#, f4), ["tensor 'w'", "data_offsets"]),
            (file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#, f4), ["tensor 'b'", "overlaps"]),
            (file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#, f4), ["tensor 'a'", "gap"]),
            (file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, f4), ["8 bytes after the last tensor"]),
            (file(#"{"a":{"dtype":"F32","shape":[99999999999,99999999999],"data_offsets":[0,16]}}"#, f4), ["tensor 'a'", "too large"]),
        ]
        for (bytes, words) in cases {
            XCTAssertThrowsError(try SafeTensors.read(data: bytes, name: "w.safetensors")) { e in
                XCTAssertTrue("\(e)".hasPrefix("w.safetensors: "), "\(e)")
                for w in words { XCTAssertTrue("\(e)".contains(w), "\(e) lacks \(w)") }
            }
        }
        XCTAssertThrowsError(try SafeTensors.encode([("a", HostTensor(zeros: .f32(1))), ("a", HostTensor(zeros: .f32(1)))])) {
            XCTAssertTrue("\($0)".contains("tensor 'a'"), "\($0)")
        }
        XCTAssertThrowsError(try SafeTensors.read("/nonexistent/w.safetensors")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
    }

    func testMalformedNpy() throws {
        let good = try bytes("arange_f32.npy")
        /// Index of the first occurrence of `pattern` in `good`.
        func find(_ pattern: String) -> Int {
            let p = Array(pattern.utf8)
            return (0...(good.count - p.count)).first { Array(good[$0..<($0 + p.count)]) == p }!
        }
        var fortran = good
        let f = find("False")
        fortran.replaceSubrange(f..<(f + 5), with: Array("True ".utf8))
        var dtype = good
        dtype[find("<f4") + 1] = UInt8(ascii: "c")
        let cases: [([UInt8], String)] = [
            (Array(good.prefix(5)), "bad magic"),
            (Array(good.prefix(9)), "truncated"),
            (Array(good.prefix(40)), "past the end"),
            (Array(good.dropLast(4)), "needs 96"),
            (good + [0], "unexpected bytes"),
            (fortran, "fortran_order"),
            (dtype, "unsupported dtype"),
        ]
        for (bytes, word) in cases {
            XCTAssertThrowsError(try NPY.read(data: bytes, name: "x.npy")) { e in
                XCTAssertTrue("\(e)".hasPrefix("x.npy: ") && "\(e)".contains(word), "\(e) lacks \(word)")
            }
        }
    }

    func testCheckTensorNamesBothShapes() {
        XCTAssertThrowsError(try checkTensor(HostTensor(zeros: .f32(1, 3)), named: "x", expected: .f32(1, 4), file: "x.npy")) {
            XCTAssertEqual("\($0)", "x.npy: tensor 'x': expected f32[1,4], got f32[1,3]")
        }
    }

    /// Random byte flips and truncations of valid files either throw or decode; never crash.
    func testMutationsNeverCrash() throws {
        var rng = SeededRandom(seed: 7)
        for name in ["mixed.safetensors", "arange_f32.npy", "ids_i8.npy"] {
            let base = try bytes(name)
            for _ in 0..<1500 {
                var b = base
                if rng.next() % 4 == 0 { b = Array(b.prefix(Int(rng.next() % UInt64(b.count)))) }
                for _ in 0..<(1 + Int(rng.next() % 3)) where !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                if name.hasSuffix(".npy") { _ = try? NPY.read(data: b, name: name) } else { _ = try? SafeTensors.read(data: b, name: name) }
            }
        }
    }
}
