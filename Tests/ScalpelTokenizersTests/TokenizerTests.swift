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
        #expect(
            throws: ScalpelError.unsupported(path: "t.json", field: "tokenizer model", value: "Unigram", supported: ["BPE", "WordPiece"])
        ) {
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
    static let cases = try! JSONDecoder().decode(
        File.self,
        from: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("tokenizer/expected.json")))
    ).cases

    @Test(
        "ids equal HF tokenizers",
        arguments: ["sentencepiece", "metaspace-first", "metaspace-split", "llama3", "digits-bytelevel", "normalized-splits", "wordpiece"])
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

@Suite("Streamed tokenization and bounded patterns")
struct StreamingTests {
    /// A long document made of the mixed corpus: every script, whitespace run and added token the parity cases hold.
    static let document: String = {
        let texts = TokenizerTests.cases.map(\.text)
        var out = ""
        for round in 0..<6 {
            for (i, t) in texts.enumerated() { out += t + ((i + round) % 3 == 0 ? "\n" : (i % 2 == 0 ? " " : "\n\n")) }
        }
        return out
    }()

    @Test(
        "ids streamed in parts equal whole-document ids, for every tokenizer and part size",
        arguments: [
            "bytelevel", "roberta", "sentencepiece", "metaspace-first", "metaspace-split", "llama3", "digits-bytelevel",
            "normalized-splits", "wordpiece",
        ])
    func streamedEqualsWhole(variant: String) throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/\(variant).json"))
        let whole = try tok.encode(Self.document)
        #expect(Self.document.unicodeScalars.count > 5000)
        var sawCut = false
        for chunk in [1, 700, 2500] {
            var parts: [[Int]] = []
            try tok.encode(Self.document, chunk: chunk) {
                parts.append($0); return true
            }
            #expect(parts.joined().elementsEqual(whole), "\(variant), chunk \(chunk): \(parts.count) parts")
            if parts.count > 1 { sawCut = true }
            // a consumer that stops early gets a prefix of the ids, and no more work is done
            var first: [Int] = []
            try tok.encode(Self.document, chunk: chunk) {
                first = $0; return false
            }
            #expect(whole.starts(with: first))
        }
        #expect(sawCut, "\(variant): the document was never cut")
    }

    @Test("a Split pattern that backtracks catastrophically fails fast; an ordinary one is unchanged")
    func boundedRegex() throws {
        let re = try BoundedRegex(pattern: "(a+)+$", path: "t.json")
        let start = Date()
        #expect(throws: ScalpelError.self) { try re.matches(in: String(repeating: "a", count: 5000) + "b") }
        #expect(Date().timeIntervalSince(start) < 10)
        let words = try BoundedRegex(pattern: "\\p{L}+| ?\\p{N}{1,3}", path: "t.json")
        #expect(try words.matches(in: "ab 1234 c") == [0..<2, 2..<6, 6..<7, 8..<9])
        #expect(throws: ScalpelError.self) { try BoundedRegex(pattern: "(unclosed", path: "t.json") }
    }

    @Test("BPE merges of one very long piece finish quickly (heap order, not quadratic)")
    func longPiece() throws {
        let tok = try Tokenizer(path: TestSupport.fixture("tokenizer/bytelevel.json"))
        let piece = String(repeating: "abcdefghij", count: 20_000)
        let start = Date()
        let ids = try tok.encode(piece, addSpecialTokens: false)
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(!ids.isEmpty && ids.count < piece.count)
    }
}
