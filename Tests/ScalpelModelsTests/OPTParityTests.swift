import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels

@Suite("OPT logits parity with HF transformers")
struct OPTParityTests {
    /// Compares Scalpel's logits with the reference made by Tools/make_fixtures.py, both for each
    /// sequence alone and for all sequences packed in one batch.
    @Test(arguments: ["opt-prenorm", "opt-postnorm-proj", "opt-nobias-untied"])
    func logitsMatch(name: String) throws {
        let loaded = try ModelRegistry.load(TestSupport.fixture("models/\(name)"))
        let reference = try SafetensorsFile(path: TestSupport.fixture("models/\(name).reference.safetensors"))
        var sequences: [[Int]] = []
        var expected: [Tensor] = []
        var j = 0
        while reference.tensors["ids_\(j)"] != nil {
            let ids = try reference.intValues("ids_\(j)")
            sequences.append(ids)
            expected.append(try reference.floatTensor("logits_\(j)"))
            // the tokenizer in the folder gives the same ids as HF did
            j += 1
        }
        #expect(sequences.count >= 3)
        let V = loaded.model.shape.vocabularySize
        var worst: Float = 0
        for (ids, e) in zip(sequences, expected) {
            let got = loaded.model.logits([ids])
            #expect(got.shape == e.shape)
            for i in 0..<e.count { worst = max(worst, abs(got[i] - e[i])) }
        }
        // packed batch: every sequence sees only itself
        let packed = loaded.model.logits(sequences)
        var row = 0
        for e in expected {
            for i in 0..<e.count { worst = max(worst, abs(packed[row * V + i] - e[i])) }
            row += e.shape[0]
        }
        #expect(worst < 1e-4, "max |Δlogit| = \(worst)")
    }

    @Test("checkpoint shapes are read from config.json")
    func shapes() throws {
        let m = try ModelRegistry.load(TestSupport.fixture("models/opt-postnorm-proj")).model
        #expect(m.shape == ModelShape(layers: 3, ffWidth: 128, heads: 2, headWidth: 32, vocabularySize: 1001, maxPositions: 64))
        #expect(m.headInputWidth == 32)
    }
}

@Suite("Checkpoint errors")
struct CheckpointErrorTests {
    /// A copy of a fixture checkpoint in a temporary folder, to damage.
    func copy(_ name: String) throws -> String {
        let dir = TestSupport.temporaryFolder() + "/" + name
        try FileManager.default.copyItem(atPath: TestSupport.fixture("models/\(name)"), toPath: dir)
        return dir
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test func missingFolder() {
        let m = message { _ = try ModelRegistry.load("/nonexistent/model") }
        #expect(m == "/nonexistent/model: no such file or folder")
    }

    @Test func folderWithoutConfig() throws {
        let dir = TestSupport.temporaryFolder()
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.hasPrefix(dir) && m.contains("no config.json"))
    }

    @Test func unknownModelType() throws {
        let dir = try copy("opt-prenorm")
        let cfg = dir + "/config.json"
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "\"opt\"", with: "\"mamba\"")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.contains("config.json: unsupported model_type 'mamba' (supported: "), "\(m)")
        #expect(m.contains("opt"))
    }

    @Test func unsupportedActivation() throws {
        let dir = try copy("opt-prenorm")
        let cfg = dir + "/config.json"
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "\"relu\"", with: "\"mish\"")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.contains("unsupported activation_function 'mish'"), "\(m)")
    }

    @Test func wrongShape() throws {
        let dir = try copy("opt-prenorm")
        let cfg = dir + "/config.json"
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "\"ffn_dim\": 160", with: "\"ffn_dim\": 150")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.contains("model.safetensors: tensor 'model.decoder.layers.0.fc1.weight' has shape [160, 64], expected [150, 64]"), "\(m)")
    }

    @Test func missingTensor() throws {
        let dir = try copy("opt-prenorm")
        let cfg = dir + "/config.json"
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "\"num_hidden_layers\": 2", with: "\"num_hidden_layers\": 3")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.contains("missing tensor 'model.decoder.layers.2.self_attn_layer_norm.weight'"), "\(m)")
    }

    @Test func truncatedWeights() throws {
        let dir = try copy("opt-prenorm")
        let path = dir + "/model.safetensors"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.hasPrefix(path) && m.contains("truncated"), "\(m)")
    }

    @Test func shardMissing() throws {
        let dir = try copy("opt-nobias-untied")
        try FileManager.default.removeItem(atPath: dir + "/model-00002-of-00002.safetensors")
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.contains("model.safetensors.index.json: lists shard 'model-00002-of-00002.safetensors'"), "\(m)")
    }

    @Test func configNotJSON() throws {
        let dir = try copy("opt-prenorm")
        try "{ nope".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m == dir + "/config.json: not a JSON object")
    }

    @Test func badFieldType() throws {
        let dir = try copy("opt-prenorm")
        let cfg = dir + "/config.json"
        let text = try String(contentsOfFile: cfg, encoding: .utf8).replacingOccurrences(of: "\"hidden_size\": 64", with: "\"hidden_size\": \"wide\"")
        try text.write(toFile: cfg, atomically: true, encoding: .utf8)
        let m = message { _ = try ModelRegistry.load(dir) }
        #expect(m.contains("field 'hidden_size' is not of type Int"), "\(m)")
    }
}
