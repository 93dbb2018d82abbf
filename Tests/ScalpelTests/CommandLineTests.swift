import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels

/// The `scalpel` executable end to end: outputs, one-line errors, non-zero exits.
@Suite("scalpel command line", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct CommandLineTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    let model = TestSupport.fixture("models/opt-prenorm")

    func expectOneLineError(_ args: [String], containing fragment: String) throws {
        let r = try TestSupport.run(exe, args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(fragment), "stderr: \(r.stderr)")
    }

    @Test("eval prints a table and writes the JSON shape of the contract")
    func evalJSON() throws {
        let out = TestSupport.temporaryFolder() + "/m.json"
        let r = try TestSupport.run(
            exe,
            [
                "eval", "--model", model, "--data", "prose=" + TestSupport.fixture("data/prose"),
                "--data", TestSupport.fixture("data/code/docs.jsonl"), "--context", "32", "--json", out, "--threads", "1",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("top1_skip50") && r.stdout.contains("prose") && r.stdout.contains("docs"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        let sets = json["datasets"] as! [String: [String: Any]]
        #expect(Set(sets.keys) == ["prose", "docs"])
        #expect(Set(sets["prose"]!.keys) == ["loss", "perplexity", "top1", "top10", "top1_skip50", "predictions"])
        #expect(sets["prose"]!["predictions"] as? Int == 406)
    }

    @Test("logits writes ids and logits equal to the HF reference")
    func logits() throws {
        let reference = try SafetensorsFile(path: TestSupport.fixture("models/opt-prenorm.reference.safetensors"))
        let ids = try reference.intValues("ids_0")
        let out = TestSupport.temporaryFolder() + "/l.safetensors"
        let r = try TestSupport.run(exe, ["logits", "--model", model, "--ids", ids.map(String.init).joined(separator: ","), "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: out)
        #expect(file.tensors["ids"]?.dtype == .i32)
        #expect(try file.intValues("ids") == ids)
        let got = try file.floatTensor("logits"), want = try reference.floatTensor("logits_0")
        #expect(got.shape == want.shape)
        var worst: Float = 0
        for i in 0..<got.count { worst = max(worst, abs(got[i] - want[i])) }
        #expect(worst < 1e-4)
    }

    @Test func missingModel() throws {
        try expectOneLineError(
            ["eval", "--model", "/nonexistent", "--data", "x"], containing: "error: /nonexistent: no such file or folder")
    }

    @Test func unknownModelType() throws {
        let dir = TestSupport.temporaryFolder()
        try #"{"model_type": "t5"}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try expectOneLineError(
            ["eval", "--model", dir, "--data", "x"],
            containing: "unsupported model_type 't5' (supported: \(ModelRegistry.supportedTypes.joined(separator: ", ")))")
    }

    @Test func badJSONL() throws {
        let path = TestSupport.temporaryFolder() + "/d.jsonl"
        try "not json\n".write(toFile: path, atomically: true, encoding: .utf8)
        try expectOneLineError(["eval", "--model", model, "--data", path], containing: "\(path):1: line is not valid JSON")
    }

    @Test func contextTooLong() throws {
        try expectOneLineError(
            ["eval", "--model", model, "--data", TestSupport.fixture("data/prose"), "--context", "4096"],
            containing: "exceeds the model's position limit 128")
    }

    @Test("--threads outside 1...1024 is refused the same way by every command", arguments: ["eval", "prune", "collect"])
    func threadsBelowOne(command: String) throws {
        try expectOneLineError(
            [command, "--model", model, "--threads", "0"] + (command == "eval" ? ["--data", "x"] : ["--out", "/tmp/never"]),
            containing: "--threads must be between 1 and 1024 (got 0)")
    }

    @Test func idOutsideVocabulary() throws {
        try expectOneLineError(
            ["logits", "--model", model, "--ids", "1,2,5000", "--out", "/tmp/never.safetensors"],
            containing: "token id 5000 is outside the vocabulary")
    }
}
