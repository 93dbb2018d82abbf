import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels
@testable import Scalpel

@Suite("Evaluation parity with HF transformers on the same windows")
struct EvaluationTests {
    struct Case: Decodable {
        let data: String, context: Int, skip: Int, tokens: Int?
        let text_field: String?
        let expected: Expected
    }
    struct Expected: Decodable {
        let loss: Double, perplexity: Double, top1: Double, top10: Double, top1_skip50: Double
        let predictions: Int, total_predictions: Int
    }
    struct File: Decodable { let model: String; let cases: [Case] }

    static let file: File = try! JSONDecoder().decode(
        File.self,
        from: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("eval-expected.json"))))

    @Test("loss, top1, top10 and top1_skip50 equal the Python reference", arguments: [0, 1, 2, 3])
    func metricsMatch(index: Int) throws {
        let c = Self.file.cases[index]
        let loaded = try ModelRegistry.load(TestSupport.fixture(Self.file.model))
        let set = DataSet(name: "d", path: TestSupport.fixture("data/" + c.data), textField: c.text_field ?? "text")
        let selection = try WindowSelection.select(
            set, tokenizer: loaded.tokenizer!, context: c.context, skip: c.skip, count: c.tokens,
            vocabularySize: loaded.model.shape.vocabularySize)
        // small batches and logit chunks, so packing and chunking are exercised
        let m = try Evaluator(model: loaded.model, batchTokens: 40, logitRows: 7).evaluate(selection)
        #expect(m.predictions == c.expected.predictions)
        #expect(abs(m.loss - c.expected.loss) < 1e-4, "loss \(m.loss) vs \(c.expected.loss)")
        #expect(abs(m.top1 - c.expected.top1) < 1e-4)
        #expect(abs(m.top10 - c.expected.top10) < 1e-4)
        #expect(abs(m.top1Skip50 - c.expected.top1_skip50) < 1e-4)
        #expect(abs(m.perplexity / c.expected.perplexity - 1) < 1e-3)
    }

    @Test("windows are consecutive context-sized cuts numbered in stream order")
    func windows() throws {
        let loaded = try ModelRegistry.load(TestSupport.fixture(Self.file.model))
        let set = DataSet(name: "p", path: TestSupport.fixture("data/prose"))
        let all = try WindowSelection.select(
            set, tokenizer: loaded.tokenizer!, context: 16, skip: 0, count: nil, vocabularySize: loaded.model.shape.vocabularySize)
        var next = 0
        for w in all.windows {
            #expect(w.firstPrediction == next)
            #expect(w.tokens.count <= 16 && w.predictions == 0..<(w.tokens.count - 1))
            next += w.tokens.count - 1
        }
        #expect(all.count == next)
        let part = try WindowSelection.select(
            set, tokenizer: loaded.tokenizer!, context: 16, skip: 20, count: 33, vocabularySize: loaded.model.shape.vocabularySize)
        #expect(part.windows.reduce(0) { $0 + $1.predictions.count } == 33)
        #expect(part.windows.first!.firstPrediction + part.windows.first!.predictions.lowerBound == 20)
    }

    @Test("folders are read in sorted order, hidden files skipped, --ext honoured")
    func folderOrder() throws {
        let files = try DataSet(name: "p", path: TestSupport.fixture("data/prose")).files().map { ($0 as NSString).lastPathComponent }
        #expect(files == ["a.txt", "b.txt", "c.txt"])
        let none = try DataSet(name: "p", path: TestSupport.fixture("data"), extensions: ["jsonl"]).files()
        #expect(none.count == 1 && none[0].hasSuffix("docs.jsonl"))
    }
}

@Suite("Data set errors")
struct DataErrorTests {
    let tokenizer = try! ModelRegistry.load(TestSupport.fixture("models/opt-prenorm")).tokenizer!

    func message(_ path: String, field: String = "text", count: Int? = nil, skip: Int = 0) -> String {
        do {
            _ = try WindowSelection.select(
                DataSet(name: "x", path: path, textField: field), tokenizer: tokenizer, context: 16, skip: skip, count: count,
                vocabularySize: 1 << 20)
            return ""
        } catch { return "\(error)" }
    }

    func write(_ text: String, _ name: String) -> String {
        let path = TestSupport.temporaryFolder() + "/" + name
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func missingPath() { #expect(message("/nonexistent/data") == "/nonexistent/data: no such file or folder") }

    @Test func emptyFolder() {
        let dir = TestSupport.temporaryFolder()
        #expect(message(dir) == "\(dir): empty data set: no documents")
    }

    @Test func emptyFile() {
        let path = write("", "empty.txt")
        #expect(message(path).contains("empty data set: no predictions"))
    }

    @Test func jsonlLineNotJSON() {
        let path = write("{\"text\": \"ok\"}\n{broken\n", "d.jsonl")
        #expect(message(path) == "\(path):2: line is not valid JSON")
    }

    @Test func jsonlMissingField() {
        let path = write("{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n", "d.jsonl")
        #expect(message(path) == "\(path):2: object has no field 'text' (use --text-field to pick another)")
    }

    @Test func jsonlFieldNotString() {
        let path = write("{\"text\": 3}\n", "d.jsonl")
        #expect(message(path) == "\(path):1: field 'text' is not a string")
    }

    @Test func tooFewPredictions() {
        let m = message(TestSupport.fixture("data/prose"), count: 100_000)
        #expect(m.contains("data set has 394 predictions at context 16, but predictions [0, 100000) were asked for"), "\(m)")
    }
}

@Suite("Masked-LM evaluation parity (seeded 15% masking, 80/10/10)")
struct MaskedEvaluationTests {
    struct Case: Decodable {
        let model: String, data: String, context: Int, skip: Int, tokens: Int?
        let expected: EvaluationTests.Expected
    }
    struct File: Decodable { let cases: [Case] }
    static let file = try! JSONDecoder().decode(
        File.self,
        from: Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("eval-expected-masked.json"))))

    @Test("metrics over the masked positions equal the Python reference", arguments: [0, 1])
    func masked(index: Int) throws {
        let c = Self.file.cases[index]
        let loaded = try ModelRegistry.load(TestSupport.fixture(c.model))
        let tokenizer = loaded.tokenizer!
        let masking = MaskedLMCorruption.forModel(loaded.model, tokenizer: tokenizer)
        #expect(masking != nil)
        let selection = try WindowSelection.select(
            DataSet(name: "d", path: TestSupport.fixture("data/" + c.data)),
            tokenizer: tokenizer, context: c.context, skip: c.skip, count: c.tokens,
            vocabularySize: loaded.model.shape.vocabularySize, masking: masking)
        let m = try Evaluator(model: loaded.model, batchTokens: 50, logitRows: 9).evaluate(selection)
        #expect(m.predictions == c.expected.predictions)
        #expect(abs(m.loss - c.expected.loss) < 1e-4, "loss \(m.loss) vs \(c.expected.loss)")
        #expect(abs(m.top1 - c.expected.top1) < 1e-4 && abs(m.top10 - c.expected.top10) < 1e-4)
        #expect(abs(m.top1Skip50 - c.expected.top1_skip50) < 1e-4)
    }
}
