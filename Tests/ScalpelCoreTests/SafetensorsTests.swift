import Foundation
import Testing
import TestSupport
@testable import ScalpelCore

@Suite("Safetensors")
struct SafetensorsTests {
    struct Expected: Decodable { let shape: [Int]; let values: [Double] }

    @Test("every dtype converts as PyTorch wrote it")
    func readsEveryDType() throws {
        let file = try SafetensorsFile(path: TestSupport.fixture("safetensors/dtypes.safetensors"))
        let expected = try JSONDecoder().decode(
            [String: Expected].self,
            from: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("safetensors/dtypes.json"))))
        #expect(file.metadata["note"] == "scalpel fixture")
        for (name, e) in expected {
            #expect(file.tensors[name]?.shape == e.shape, "\(name)")
            if ["i64", "i32", "u8"].contains(name) {
                #expect(try file.intValues(name) == e.values.map { Int($0) }, "\(name)")
            } else {
                let t = try file.floatTensor(name)
                #expect(t.shape == e.shape)
                // the expected values are the stored values widened to float64: exact in Float32
                #expect(t.values == e.values.map { Float($0) }, "\(name)")
            }
        }
    }

    @Test("F32 tensors are borrowed from the mapping, and writes never reach the file")
    func mappedCopyOnWrite() throws {
        let dir = TestSupport.temporaryFolder()
        let path = dir + "/w.safetensors"
        try SafetensorsWriter.write([TensorRecord(name: "w", shape: [4], floats: [1, 2, 3, 4])], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let t = try SafetensorsFile(path: path).floatTensor("w")
            t[0] = 99
            #expect(t.values == [99, 2, 3, 4])
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("header is padded to 8 bytes and tensors are sorted")
    func writerLayout() throws {
        let data = SafetensorsWriter.encode(
            [
                TensorRecord(name: "b", shape: [2], floats: [1, 2]),
                TensorRecord(name: "a", shape: [1], int32s: [7]),
            ], metadata: ["k": "v"])
        var n: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &n) { data.copyBytes(to: $0, from: 0..<8) }
        #expect(n % 8 == 0)
        #expect(data.count == 8 + Int(n) + 4 + 8)
    }

    @Test(
        "a file Scalpel writes reads back in Python's safetensors",
        .enabled(if: TestSupport.python(with: ["safetensors", "numpy"]) != nil, "needs python3 with safetensors and numpy"))
    func roundTripThroughPython() throws {
        let dir = TestSupport.temporaryFolder()
        let path = dir + "/rt.safetensors"
        let floats: [Float] = [1.5, -2.25, 3.0e-8, 65504, -0.0, 1e30]
        try SafetensorsWriter.write(
            [
                TensorRecord(name: "floats", shape: [2, 3], floats: floats),
                TensorRecord(name: "ids", shape: [3], int32s: [-1, 0, 50271]),
                TensorRecord(name: "mask", shape: [2, 2], uint8s: [0, 1, 1, 0]),
                TensorRecord(name: "sums", shape: [2], doubles: [1e300, -3.5]),
                TensorRecord(name: "名前 with \"quotes\"", shape: [1], floats: [42]),
            ], metadata: ["scalpel": "1"], to: path)
        let r = try TestSupport.run("/usr/bin/env", ["python3", TestSupport.root + "/Tools/checks/check_safetensors.py", path])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let tensors = json["tensors"] as! [String: [String: Any]]
        #expect((json["metadata"] as! [String: String]) == ["scalpel": "1"])
        #expect(tensors["floats"]!["dtype"] as? String == "float32")
        #expect(tensors["floats"]!["shape"] as? [Int] == [2, 3])
        #expect((tensors["floats"]!["values"] as! [Double]).map { Float($0) } == floats)
        #expect(tensors["ids"]!["dtype"] as? String == "int32")
        #expect(tensors["ids"]!["values"] as? [Double] == [-1, 0, 50271])
        #expect(tensors["mask"]!["dtype"] as? String == "uint8")
        #expect(tensors["sums"]!["values"] as? [Double] == [1e300, -3.5])
        #expect(tensors["名前 with \"quotes\""]!["values"] as? [Double] == [42])
        // and Scalpel reads its own file back
        let back = try SafetensorsFile(path: path)
        #expect(try back.floatTensor("floats").values == floats)
        #expect(try back.intValues("ids") == [-1, 0, 50271])
    }

    // MARK: bad input: one clear error naming the file

    func expectInvalid(_ bytes: Data, containing fragment: String) throws {
        let dir = TestSupport.temporaryFolder()
        let path = dir + "/bad.safetensors"
        try bytes.write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("expected an error for \(fragment)")
        } catch let e as ScalpelError {
            #expect(e.description.hasPrefix(path), "\(e)")
            #expect(e.description.contains(fragment), "\(e)")
            #expect(!e.description.contains("\n"))
        }
    }

    func header(_ json: String, dataBytes: Int) -> Data {
        var d = Data()
        var n = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(json.utf8))
        d.append(Data(count: dataBytes))
        return d
    }

    @Test func tooShort() throws { try expectInvalid(Data([1, 2, 3]), containing: "too short") }

    @Test func headerLengthBeyondFile() throws {
        var d = header("{}", dataBytes: 0)
        d[0] = 0xFF; d[1] = 0xFF
        try expectInvalid(d, containing: "exceeds file size")
    }

    @Test func headerNotJSON() throws { try expectInvalid(header("{not json", dataBytes: 0), containing: "not a JSON object") }

    @Test func truncatedData() throws {
        try expectInvalid(header(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), containing: "truncated")
    }

    @Test func sizeMismatch() throws {
        try expectInvalid(header(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, dataBytes: 16), containing: "needs 12")
    }

    @Test func unknownDType() throws {
        try expectInvalid(
            header(#"{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}"#, dataBytes: 1), containing: "unsupported dtype Q9")
    }

    @Test func missingFile() throws {
        #expect(throws: ScalpelError.fileNotFound(path: "/nonexistent/x.safetensors")) {
            _ = try SafetensorsFile(path: "/nonexistent/x.safetensors")
        }
    }
}

extension SafetensorsTests {
    @Test("streaming Float32 writes give the same bytes as the in-memory encoder")
    func streamingEqualsEncoded() throws {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), b = Tensor(shape: [1], values: [-7.5])
        let path = TestSupport.temporaryFolder() + "/s.safetensors"
        try SafetensorsWriter.write(floatTensors: [("z.b", b), ("a.w", a)], metadata: ["k": "v"], to: path)
        let expected = SafetensorsWriter.encode(
            [
                TensorRecord(name: "z.b", shape: [1], floats: b.values),
                TensorRecord(name: "a.w", shape: [2, 3], floats: a.values),
            ], metadata: ["k": "v"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == expected)
        #expect(try SafetensorsFile(path: path).floatTensor("a.w").values == a.values)
    }
}
