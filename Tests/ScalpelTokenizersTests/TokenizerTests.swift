import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelTokenizers

@Suite("Tokenizer parity with HF tokenizers")
struct TokenizerTests {
    struct Case: Decodable {
        let bytes_b64: String
        let ids: [Int]
        let ids_no_special: [Int]
        let roberta_ids: [Int]
        let decoded: String
        /// The text as every reader in Scalpel decodes a file (invalid UTF-8 → U+FFFD).
        var text: String { String(decoding: Data(base64Encoded: bytes_b64)!, as: UTF8.self) }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: TestSupport.fixture("tokenizer/expected.json"))
        struct File: Decodable { let cases: [Case] }
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }()

    @Test("byte-level BPE with TemplateProcessing equals HF on the mixed corpus")
    func byteLevel() throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/bytelevel.json"))
        #expect(Self.cases.count >= 20)
        for c in Self.cases {
            #expect(try tok.encode(c.text) == c.ids, "text: \(c.text.debugDescription)")
            #expect(try tok.encode(c.text, addSpecialTokens: false) == c.ids_no_special, "text: \(c.text.debugDescription)")
        }
    }

    @Test("RobertaProcessing and add_prefix_space equal HF")
    func roberta() throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/roberta.json"))
        for c in Self.cases {
            #expect(try tok.encode(c.text) == c.roberta_ids, "text: \(c.text.debugDescription)")
        }
    }

    @Test("ByteLevel decoder equals HF decode")
    func decode() throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/bytelevel.json"))
        for c in Self.cases {
            #expect(tok.decode(c.ids_no_special) == c.decoded, "text: \(c.text.debugDescription)")
        }
    }

    @Test("GPT-2 pattern pieces")
    func pattern() {
        func pieces(_ s: String) -> [String] {
            let scalars = Array(s.unicodeScalars)
            return ByteLevel.split(scalars).map { String(String.UnicodeScalarView(scalars[$0])) }
        }
        #expect(pieces("Hello world's  end\n\n x") == ["Hello", " world", "'s", " ", " end", "\n\n", " x"])
        #expect(pieces("a  ") == ["a", "  "])
        #expect(pieces("?'s 3.14") == ["?'", "s", " 3", ".", "14"])
    }

    @Test("unsupported parts are named")
    func unsupported() throws {
        let json: [String: Any] = ["model": ["type": "Unigram", "vocab": []]]
        #expect(throws: ScalpelError.unsupported(path: "t.json", field: "tokenizer model", value: "Unigram", supported: ["BPE", "WordPiece"])) {
            _ = try Tokenizer(json: json, path: "t.json")
        }
    }
}

@Suite("Tokenizer variants: SentencePiece BPE, Metaspace, Llama-3 regex split, Digits, normalizers")
struct TokenizerVariantTests {
    struct Case: Decodable {
        let bytes_b64: String
        let variants: [String: [Int]]
        let spm_decoded: String
        var text: String { String(decoding: Data(base64Encoded: bytes_b64)!, as: UTF8.self) }
    }
    struct File: Decodable { let cases: [Case] }
    static let cases = try! JSONDecoder().decode(File.self,
        from: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("tokenizer/expected.json")))).cases

    @Test("ids equal HF tokenizers", arguments: ["sentencepiece", "metaspace-first", "metaspace-split", "llama3", "digits-bytelevel", "normalized-splits", "wordpiece"])
    func ids(variant: String) throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/\(variant).json"))
        for c in Self.cases {
            #expect(try tok.encode(c.text) == c.variants[variant]!, "\(variant): \(c.text.debugDescription)")
        }
    }

    @Test("SentencePiece decoder chain (Replace, ByteFallback, Fuse, Strip) equals HF decode")
    func decode() throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/sentencepiece.json"))
        for c in Self.cases {
            let ids = Array(c.variants["sentencepiece"]!.dropFirst())  // without <s>
            #expect(tok.decode(ids) == c.spm_decoded, "\(c.text.debugDescription)")
        }
    }
}
