import Foundation
import ScalpelCore
import ScalpelTokenizers

/// A GGUF file as a Hugging Face checkpoint: its metadata becomes a `config.json`, its tensors
/// are served under Hugging Face names (dequantized, with llama.cpp's rotary permutation of
/// Llama query/key weights undone), and its `tokenizer.ggml.*` metadata becomes a tokenizer.
public enum GGUFCheckpoint {
    static let architectures = ["llama", "mistral", "qwen2"]

    public static func load(_ path: String) throws -> LoadedModel {
        let gguf = try GGUFFile(path: path)
        let m = gguf.metadata
        guard let arch = m["general.architecture"]?.string else {
            throw ScalpelError.invalidFile(path: path, reason: "no general.architecture in the GGUF metadata")
        }
        guard architectures.contains(arch) else {
            throw ScalpelError.unsupported(path: path, field: "general.architecture", value: arch, supported: architectures)
        }
        func int(_ key: String) throws -> Int {
            guard let v = m["\(arch).\(key)"]?.int else { throw ScalpelError.invalidFile(path: path, reason: "GGUF metadata lacks \(arch).\(key)") }
            return v
        }
        let d = try int("embedding_length"), heads = try int("attention.head_count")
        let kvHeads = m["\(arch).attention.head_count_kv"]?.int ?? heads
        let tokens = m["tokenizer.ggml.tokens"]?.array ?? []
        let vocab = m["\(arch).vocab_size"]?.int ?? tokens.count
        var config: [String: Any] = [
            "model_type": arch, "architectures": [arch == "qwen2" ? "Qwen2ForCausalLM" : arch == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"],
            "hidden_size": d, "intermediate_size": try int("feed_forward_length"), "num_hidden_layers": try int("block_count"),
            "num_attention_heads": heads, "num_key_value_heads": kvHeads, "vocab_size": vocab,
            "max_position_embeddings": try int("context_length"),
            "rms_norm_eps": m["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-6,
            "rope_parameters": ["rope_type": "default", "rope_theta": m["\(arch).rope.freq_base"]?.double ?? 10000.0],
            "tie_word_embeddings": gguf.tensors["output.weight"] == nil,
            "hidden_act": "silu",
        ]
        if let dim = m["\(arch).rope.dimension_count"]?.int, dim != d / heads { config["head_dim"] = dim }
        if let bos = m["tokenizer.ggml.bos_token_id"]?.int { config["bos_token_id"] = bos }
        if let eos = m["tokenizer.ggml.eos_token_id"]?.int { config["eos_token_id"] = eos }
        let source = GGUFSource(file: gguf, permuteRotary: arch != "qwen2", heads: heads, kvHeads: kvHeads)
        let configPath = path + " (metadata)"
        let tokenizerJSON = try tokenizer(m, path: path)
        let tokenizer = try tokenizerJSON.map { try Tokenizer(json: $0, path: path) }
        let model = try Llama(json: config, store: source, configPath: configPath, modelType: arch)
        return LoadedModel(network: model, tokenizer: tokenizer, preprocessor: nil, folder: path, modelType: arch, tokenizerJSON: tokenizerJSON)
    }

    /// tokenizer.json contents for the GGUF's byte-level BPE vocabulary (`tokenizer.ggml.model` "gpt2").
    static func tokenizer(_ m: [String: GGUFValue], path: String) throws -> [String: Any]? {
        guard let kind = m["tokenizer.ggml.model"]?.string else { return nil }
        guard kind == "gpt2" else {
            throw ScalpelError.unsupported(path: path, field: "tokenizer.ggml.model", value: kind, supported: ["gpt2"])
        }
        let tokens = (m["tokenizer.ggml.tokens"]?.array ?? []).map { $0.string ?? "" }
        let types = (m["tokenizer.ggml.token_type"]?.array ?? []).map { $0.int ?? 1 }
        let merges = (m["tokenizer.ggml.merges"]?.array ?? []).map { $0.string ?? "" }
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        // control (3) and user-defined (4) tokens are matched whole, as added tokens
        var added: [[String: Any]] = []
        for (i, t) in types.enumerated() where t == 3 || t == 4 {
            added.append(["id": i, "content": tokens[i], "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": false, "special": t == 3])
        }
        var single: [[String: Any]] = [["Sequence": ["id": "A", "type_id": 0]]]
        var specials: [String: Any] = [:]
        if m["tokenizer.ggml.add_bos_token"]?.bool == true, let bos = m["tokenizer.ggml.bos_token_id"]?.int {
            single.insert(["SpecialToken": ["id": tokens[bos], "type_id": 0]], at: 0)
            specials[tokens[bos]] = ["id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]]
        }
        return [
            "version": "1.0", "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": m["tokenizer.ggml.add_space_prefix"]?.bool ?? false,
                              "trim_offsets": true, "use_regex": true],
            "post_processor": ["type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "vocab": vocab, "merges": merges, "dropout": NSNull(), "unk_token": NSNull(),
                      "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": false],
        ]
    }
}

/// A GGUF file's tensors under Hugging Face Llama names.
final class GGUFSource: TensorSource {
    let file: GGUFFile
    let permuteRotary: Bool
    let heads: Int, kvHeads: Int
    private let map: [String: String]

    init(file: GGUFFile, permuteRotary: Bool, heads: Int, kvHeads: Int) {
        self.file = file; self.permuteRotary = permuteRotary; self.heads = heads; self.kvHeads = kvHeads
        var map: [String: String] = [:]
        let parts: [String: String] = [
            "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
            "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
        ]
        for name in file.tensors.keys {
            switch name {
            case "token_embd.weight": map["model.embed_tokens.weight"] = name
            case "output_norm.weight": map["model.norm.weight"] = name
            case "output.weight": map["lm_head.weight"] = name
            default:
                let p = name.split(separator: ".")
                guard p.count == 4, p[0] == "blk", let hf = parts[String(p[2])] else { continue }
                map["model.layers.\(p[1]).\(hf).\(p[3])"] = name
            }
        }
        self.map = map
    }

    var names: [String] { map.keys.sorted() }
    func contains(_ name: String) -> Bool { map[name] != nil }

    func tensor(_ name: String, shape expected: [Int]?) throws -> Tensor {
        guard let g = map[name] else { throw ScalpelError.missingTensor(path: file.path, name: name) }
        var t = try file.floatTensor(g)
        if let expected, t.shape != expected {
            throw ScalpelError.wrongShape(path: file.path, name: "\(g) (\(name))", expected: expected, found: t.shape)
        }
        if permuteRotary && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight") || name.hasSuffix("q_proj.bias") || name.hasSuffix("k_proj.bias")) {
            t = unpermute(t, heads: name.contains("q_proj") ? heads : kvHeads)
        }
        return t
    }

    /// Undoes llama.cpp's `permute`: within each head, row a·2 + b came from row b·(dh/2) + a.
    func unpermute(_ t: Tensor, heads: Int) -> Tensor {
        let rows = t.shape[0], cols = t.count / rows
        let dh = rows / heads, half = dh / 2
        let out = Tensor(zeros: t.shape)
        for h in 0..<heads {
            for a in 0..<half {
                for b in 0..<2 {
                    let from = h * dh + a * 2 + b, to = h * dh + b * half + a
                    (out.pointer + to * cols).update(from: t.pointer + from * cols, count: cols)
                }
            }
        }
        return out
    }
}
