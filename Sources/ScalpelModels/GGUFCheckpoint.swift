import Foundation
import ScalpelCore
import ScalpelTokenizers

/// A GGUF file as a Hugging Face checkpoint: its metadata becomes a `config.json`, its tensors
/// are served under Hugging Face names (dequantized, with llama.cpp's rotary permutation of
/// Llama query/key weights undone), and its `tokenizer.ggml.*` metadata becomes a tokenizer.
public enum GGUFCheckpoint {
    static let architectures = ["llama", "mistral", "qwen2"]

    public static func load(_ path: String, dtype: DType = .f32) throws -> LoadedModel {
        let gguf = try GGUFFile(path: path)
        let m = gguf.metadata
        guard let arch = m["general.architecture"]?.string else {
            throw ScalpelError.invalidFile(path: path, reason: "no general.architecture in the GGUF metadata")
        }
        guard architectures.contains(arch) else {
            throw ScalpelError.unsupported(path: path, field: "general.architecture", value: arch, supported: architectures)
        }
        func int(_ key: String) throws -> Int {
            guard let v = m["\(arch).\(key)"]?.int else {
                throw ScalpelError.invalidFile(path: path, reason: "GGUF metadata lacks \(arch).\(key)")
            }
            return v
        }
        let d = try int("embedding_length"), heads = try int("attention.head_count")
        guard d > 0, heads > 0 else {
            throw ScalpelError.invalidFile(
                path: path, reason: "GGUF metadata \(arch).embedding_length \(d) and \(arch).attention.head_count \(heads) must be positive"
            )
        }
        let kvHeads = m["\(arch).attention.head_count_kv"]?.int ?? heads
        if gguf.tensors["rope_freqs.weight"] != nil {
            // Llama 3.1+ frequency factors: they change every rotary angle, and are not implemented
            throw ScalpelError.unsupported(
                path: path, field: "tensor rope_freqs.weight (rotary frequency factors)", value: "present", supported: ["absent"])
        }
        let tokens = m["tokenizer.ggml.tokens"]?.array ?? []
        let vocab = m["\(arch).vocab_size"]?.int ?? tokens.count
        var config: [String: Any] = [
            "model_type": arch,
            "architectures": [arch == "qwen2" ? "Qwen2ForCausalLM" : arch == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"],
            "hidden_size": d, "intermediate_size": try int("feed_forward_length"), "num_hidden_layers": try int("block_count"),
            "num_attention_heads": heads, "num_key_value_heads": kvHeads, "vocab_size": vocab,
            "max_position_embeddings": try int("context_length"),
            "rms_norm_eps": m["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-6,
            // both config generations: rope_parameters (transformers 5) and rope_theta (earlier)
            "rope_parameters": ["rope_type": "default", "rope_theta": m["\(arch).rope.freq_base"]?.double ?? 10000.0],
            "rope_theta": m["\(arch).rope.freq_base"]?.double ?? 10000.0,
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
        try ModelRegistry.checkMemory(elements: source.elementCount, dtype: dtype, path: path)
        let model = try ModelRegistry.build(
            ArchitectureInputs(json: config, store: source, configPath: configPath, modelType: arch, tokenizer: tokenizer, dtype: dtype))
        var loaded = LoadedModel(
            network: model, tokenizer: tokenizer, preprocessor: nil, folder: path, modelType: arch, tokenizerJSON: tokenizerJSON)
        loaded.elementCount = source.elementCount
        return loaded
    }

    /// The tokenizer of a GGUF file (which may hold only a vocabulary), or nil when it has none.
    public static func loadTokenizer(_ path: String) throws -> Tokenizer? {
        let gguf = try GGUFFile(path: path)
        return try tokenizer(gguf.metadata, path: path).map { try Tokenizer(json: $0, path: path) }
    }

    /// tokenizer.json contents for the GGUF's vocabulary, built as transformers builds it: byte-level BPE
    /// with merges (`tokenizer.ggml.model` "gpt2"), or SentencePiece-style BPE with merges derived from the
    /// token scores, ▁ for spaces and byte fallback ("llama").
    static func tokenizer(_ m: [String: GGUFValue], path: String) throws -> [String: Any]? {
        guard let kind = m["tokenizer.ggml.model"]?.string else { return nil }
        guard kind == "gpt2" || kind == "llama" else {
            throw ScalpelError.unsupported(path: path, field: "tokenizer.ggml.model", value: kind, supported: ["gpt2", "llama"])
        }
        let tokens = (m["tokenizer.ggml.tokens"]?.array ?? []).map { $0.string ?? "" }
        let types = (m["tokenizer.ggml.token_type"]?.array ?? []).map { $0.int ?? 1 }
        guard types.isEmpty || types.count == tokens.count else {
            throw ScalpelError.invalidFile(
                path: path, reason: "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        var vocab: [String: Int] = [:]
        for (i, t) in tokens.enumerated() where vocab[t] == nil { vocab[t] = i }
        // unknown (2) and control (3) tokens are special added tokens; user-defined (4) ones plain added tokens
        var added: [[String: Any]] = []
        for (i, t) in types.enumerated() where (kind == "llama" && t == 2) || t == 3 || t == 4 {
            added.append([
                "id": i, "content": tokens[i], "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": t != 4,
            ])
        }
        var single: [[String: Any]] = [["Sequence": ["id": "A", "type_id": 0]]]
        var specials: [String: Any] = [:]
        let bosDefault = kind == "llama"
        if m["tokenizer.ggml.add_bos_token"]?.bool ?? bosDefault, let bos = m["tokenizer.ggml.bos_token_id"]?.int,
            tokens.indices.contains(bos)
        {
            single.insert(["SpecialToken": ["id": tokens[bos], "type_id": 0]], at: 0)
            specials[tokens[bos]] = ["id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]]
        }
        if m["tokenizer.ggml.add_eos_token"]?.bool == true, let eos = m["tokenizer.ggml.eos_token_id"]?.int, tokens.indices.contains(eos) {
            single.append(["SpecialToken": ["id": tokens[eos], "type_id": 0]])
            specials[tokens[eos]] = ["id": tokens[eos], "ids": [eos], "tokens": [tokens[eos]]]
        }
        let post: [String: Any] = ["type": "TemplateProcessing", "single": single, "pair": single, "special_tokens": specials]
        if kind == "gpt2" {
            let merges = (m["tokenizer.ggml.merges"]?.array ?? []).map { $0.string ?? "" }
            return [
                "version": "1.0", "added_tokens": added, "normalizer": NSNull(),
                "pre_tokenizer": [
                    "type": "ByteLevel", "add_prefix_space": m["tokenizer.ggml.add_space_prefix"]?.bool ?? false,
                    "trim_offsets": true, "use_regex": true,
                ],
                "post_processor": post,
                "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
                "model": [
                    "type": "BPE", "vocab": vocab, "merges": merges, "dropout": NSNull(), "unk_token": NSNull(),
                    "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
                    "ignore_merges": false,
                ],
            ]
        }
        let scores = (m["tokenizer.ggml.scores"]?.array ?? []).map { $0.double ?? 0 }
        guard scores.count == tokens.count else {
            throw ScalpelError.invalidFile(
                path: path, reason: "tokenizer.ggml.scores has \(scores.count) entries for \(tokens.count) tokens")
        }
        let prepend = (m["tokenizer.ggml.add_space_prefix"]?.bool ?? true) ? "first" : "never"
        return [
            "version": "1.0", "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Metaspace", "replacement": "▁", "prepend_scheme": prepend, "split": false],
            "post_processor": post,
            "decoder": [
                "type": "Sequence",
                "decoders": [
                    ["type": "Replace", "pattern": ["String": "▁"], "content": " "], ["type": "ByteFallback"], ["type": "Fuse"],
                    ["type": "Strip", "content": " ", "start": 1, "stop": 0],
                ],
            ],
            "model": [
                "type": "BPE", "vocab": vocab, "merges": scoreMerges(tokens: tokens, scores: scores, vocab: vocab),
                "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(),
                "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            ],
        ]
    }

    /// Merges of a SentencePiece vocabulary: every split of every token into two tokens, ordered by
    /// the merged token's score (then the pieces' lengths), highest first, ties in vocabulary order
    /// (transformers' `generate_merges` with scores).
    static func scoreMerges(tokens: [String], scores: [Double], vocab: [String: Int]) -> [[String]] {
        var merges: [(left: String, right: String, score: Double, leftLength: Int, rightLength: Int, order: Int)] = []
        var seen = Set<String>()
        for (i, token) in tokens.enumerated() where seen.insert(token).inserted {
            let scalars = Array(token.unicodeScalars)
            var local: [(String, String, Int, Int)] = []
            for cut in 1..<max(scalars.count, 1) {
                let l = String(String.UnicodeScalarView(scalars[..<cut])), r = String(String.UnicodeScalarView(scalars[cut...]))
                if let li = vocab[l], let ri = vocab[r] { local.append((l, r, li, ri)) }
            }
            local.sort { ($0.2, $0.3) < ($1.2, $1.3) }
            for (l, r, _, _) in local {
                merges.append((l, r, scores[i], l.unicodeScalars.count, r.unicodeScalars.count, merges.count))
            }
        }
        merges.sort {
            if $0.score != $1.score { return $0.score > $1.score }
            if $0.leftLength != $1.leftLength { return $0.leftLength > $1.leftLength }
            if $0.rightLength != $1.rightLength { return $0.rightLength > $1.rightLength }
            return $0.order < $1.order
        }
        return merges.map { [$0.left, $0.right] }
    }
}

/// A GGUF file's tensors under Hugging Face Llama names.
final class GGUFSource: TensorSource {
    let file: GGUFFile
    let permuteRotary: Bool
    let heads: Int, kvHeads: Int
    private let map: [String: String]
    /// GGUF tensors with no Hugging Face name here, under their GGUF names (reported as unread).
    private let unmapped: [String]

    init(file: GGUFFile, permuteRotary: Bool, heads: Int, kvHeads: Int) {
        self.file = file; self.permuteRotary = permuteRotary; self.heads = heads; self.kvHeads = kvHeads
        var map: [String: String] = [:]
        var unmapped: [String] = []
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
                guard p.count == 4, p[0] == "blk", let hf = parts[String(p[2])] else { unmapped.append(name); continue }
                map["model.layers.\(p[1]).\(hf).\(p[3])"] = name
            }
        }
        self.map = map
        self.unmapped = unmapped
    }

    var names: [String] { (Array(map.keys) + unmapped).sorted() }
    var elementCount: Int { file.tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) } }
    func contains(_ name: String) -> Bool { map[name] != nil }

    func tensor(_ name: String, shape expected: [Int]?) throws -> Tensor {
        guard let g = map[name] else { throw ScalpelError.missingTensor(path: file.path, name: name) }
        var t = try file.floatTensor(g)
        if let expected, t.shape != expected {
            throw ScalpelError.wrongShape(path: file.path, name: "\(g) (\(name))", expected: expected, found: t.shape)
        }
        if permuteRotary
            && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight") || name.hasSuffix("q_proj.bias")
                || name.hasSuffix("k_proj.bias"))
        {
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
