import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels

/// Where Tools/setup/fetch_smollm2.sh puts the real model, when it has been fetched.
let smolLM2Path: String? = {
    let path = TestSupport.root + "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    return FileManager.default.fileExists(atPath: path) ? path : nil
}()

/// SmolLM2-135M-Instruct (Q4_1 GGUF) against transformers loading the same file (Tools/fixtures/smollm2_reference.py).
@Suite(
    "Real weights: SmolLM2-135M GGUF",
    .enabled(if: smolLM2Path != nil, "skipped: run Tools/setup/fetch_smollm2.sh to fetch SmolLM2-135M-Instruct.Q4_1.gguf"))
struct SmolLM2Tests {
    static let reference = try! SafetensorsFile(path: TestSupport.fixture("smollm2/reference.safetensors"))

    @Test("token ids equal the tokenizer transformers builds from the GGUF")
    func tokenIDs() throws {
        let loaded = try ModelRegistry.load(smolLM2Path!)
        var i = 0
        while Self.reference.tensors["ids_\(i)"] != nil {
            let bytes = try Self.reference.intValues("text_\(i)").map { UInt8($0) }
            let text = bytes == [0] ? "" : String(decoding: bytes, as: UTF8.self)
            let want = try Self.reference.intValues("ids_\(i)")
            let got = try loaded.tokenizer!.encode(text)
            #expect(got == (want == [0] && text.isEmpty ? [] : want), "\(text.debugDescription)")
            i += 1
        }
        #expect(i >= 19)
    }

    @Test("logits equal transformers' within 1e-3 (dequantized Q4_1/Q8_0, rotary permutation undone)")
    func logits() throws {
        let loaded = try ModelRegistry.load(smolLM2Path!)
        #expect(
            loaded.model.shape == ModelShape(layers: 30, ffWidth: 1536, heads: 9, headWidth: 64, vocabularySize: 49152, maxPositions: 8192))
        let ids = try Self.reference.intValues("logits_ids")
        let logits = loaded.model.logits([ids])
        let head = try Self.reference.floatTensor("logits_head")
        let argmax = try Self.reference.intValues("logits_argmax")
        let V = 49152
        var worst: Float = 0
        for t in 0..<ids.count {
            let row = UnsafeBufferPointer(start: logits.pointer + t * V, count: V)
            for j in 0..<2048 { worst = max(worst, abs(row[j] - head[t * 2048 + j])) }
            #expect(row.firstIndex(of: row.max()!) == argmax[t])
        }
        #expect(worst < 1e-3, "max |Δlogit| \(worst)")
    }
}

@Suite("GGUF reading")
struct GGUFReadingTests {
    @Test("a truncated or foreign file is a one-line error naming it")
    func badFiles() throws {
        let dir = TestSupport.temporaryFolder()
        let path = dir + "/x.gguf"
        // magic, version 3, one tensor and one key announced, then nothing
        var header = Data("GGUF".utf8)
        for v: UInt32 in [3] { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        for v: UInt64 in [1, 1] { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        try header.write(to: URL(fileURLWithPath: path))
        do { _ = try GGUFFile(path: path); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix(path) && "\(error)".contains("truncated GGUF header"), "\(error)")
        }
        try Data("not a gguf at all, just text".utf8).write(to: URL(fileURLWithPath: path))
        do { _ = try GGUFFile(path: path); Issue.record("no error") } catch {
            #expect("\(error)" == "\(path): not a GGUF file (no GGUF magic)")
        }
    }
}

extension GGUFReadingTests {
    @Test(
        "every supported type dequantizes exactly as gguf-py does",
        arguments: ["f32", "f16", "bf16", "q4_0", "q4_1", "q8_0", "q4_k", "q5_k", "q6_k"])
    func dequantize(type: String) throws {
        let file = try GGUFFile(path: TestSupport.fixture("gguf/types.gguf"))
        #expect(file.version == 3)
        #expect(file.metadata["test.count"]?.int == 7 && file.metadata["test.name"]?.string == "scalpel fixture")
        #expect(file.metadata["test.list"]?.array?.compactMap(\.int) == [1, 2, 3])
        let got = try file.floatTensor(type)
        let want = try SafetensorsFile(path: TestSupport.fixture("gguf/types.expected.safetensors")).floatTensor(type)
        #expect(got.shape == [3, 512])
        #expect(got.values == want.values)
    }
}

@Suite("GGUF tokenizers")
struct GGUFTokenizerTests {
    struct Case: Decodable {
        let bytes_b64: String
        let ids: [Int]
        var text: String { String(decoding: Data(base64Encoded: bytes_b64)!, as: UTF8.self) }
    }
    struct File: Decodable { let cases: [Case] }

    @Test("SentencePiece-style vocabulary (tokens, scores, types) gives the ids of the tokenizer transformers builds")
    func sentencePiece() throws {
        let tok = try GGUFCheckpoint.loadTokenizer(TestSupport.fixture("gguf/spm-vocab.gguf"))!
        let file = try JSONDecoder().decode(
            File.self, from: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("gguf/spm-vocab.expected.json"))))
        #expect(file.cases.count >= 20)
        for c in file.cases {
            #expect(try tok.encode(c.text) == c.ids, "\(c.text.debugDescription)")
        }
    }
}
