import Foundation
import Scalpel
import ScalpelCore
import ScalpelModels
import TestSupport
import Testing

/// Multiple-choice scores against lm-evaluation-harness's own (Tests/Fixtures/mc/reference.json,
/// written by Tools/fixtures/make_mc_fixtures.py).
@Suite("Multiple choice")
struct MultipleChoiceTests {
    @Test("per-choice log-likelihoods within 1e-4 and acc/acc_norm equal lm_eval's", arguments: ["llama-gqa", "opt-prenorm", "gpt2"])
    func parity(_ name: String) throws {
        let reference = try InputFile.jsonObject(TestSupport.fixture("mc/reference.json"))
        let expected = try #require((reference["models"] as? [String: [String: Any]])?[name])
        let loaded = try ModelRegistry.load(TestSupport.fixture("models/\(name)"))
        let set = try MultipleChoiceSet(argument: "tiny=" + TestSupport.fixture("mc/tiny.jsonl"))
        let evaluator = MultipleChoiceEvaluator(
            model: loaded.model, tokenizer: try #require(loaded.tokenizer),
            prefixToken: MultipleChoiceEvaluator.prefixToken(config: loaded.model.configJSON), batchTokens: 300)
        let scores = try evaluator.evaluate(set)
        let lls = try #require(expected["loglikelihoods"] as? [[Double]])
        let computed = try #require(scores.loglikelihoods)
        #expect(computed.count == lls.count && lls.count == 10)
        var worst = 0.0
        for (ours, theirs) in zip(computed, lls) {
            #expect(ours.count == theirs.count)
            for (a, b) in zip(ours, theirs) { worst = max(worst, abs(a - b)) }
        }
        #expect(worst < 1e-4, "\(name): largest log-likelihood difference \(worst)")
        #expect(scores.acc == expected["acc"] as? Double)
        #expect(scores.accNorm == expected["acc_norm"] as? Double)
    }

    @Test(
        "Tools/data/mc_convert.py writes the contexts and continuations lm_eval renders from the mmlu templates",
        .enabled(if: TestSupport.python(with: ["json"]) != nil, "needs python3"))
    func converter() throws {
        let rendered = try InputFile.jsonObject(TestSupport.fixture("mc/rendered.json"))
        let dir = TestSupport.temporaryFolder()
        for form in ["letters", "cloze"] {
            let out = dir + "/\(form).jsonl"
            let r = try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", TestSupport.root + "/Tools/data/mc_convert.py", TestSupport.root + "/docs/examples/mc/python.json", out,
                    "--format", form,
                ])
            #expect(r.status == 0, "\(r.stderr)")
            let expected = try #require(rendered[form] as? [[String: Any]])
            let set = try MultipleChoiceSet(argument: out)
            #expect(set.items.count == expected.count && expected.count == 16)
            for (item, e) in zip(set.items, expected) {
                #expect(item.context == e["context"] as? String)
                #expect(item.choices == e["choices"] as? [String])
                #expect(item.answer == ((e["answer"] as? NSNumber)?.intValue ?? Int(e["answer"] as? String ?? "")))
            }
        }
    }

    @Test("malformed lines are errors naming the file and line")
    func malformed() throws {
        let dir = TestSupport.temporaryFolder()
        for (line, why) in [
            ("{\"context\": \"a\", \"choices\": [\"x\"], \"answer\": 1}", "answer"),
            ("{\"context\": \"a\", \"choices\": [], \"answer\": 0}", "choices"),
            ("{\"choices\": [\"x\"], \"answer\": 0}", "context"),
            ("{\"context\": \"a\", \"choices\": [\"x\", 3], \"answer\": 0}", "choices"),
            ("{\"context\": \"a\", \"choices\": [\"x\"], \"answer\": true}", "answer"),
            ("[1, 2]", "JSON object"),
        ] {
            let path = dir + "/bad.jsonl"
            try Data(("{\"context\": \"ok\", \"choices\": [\" y\"], \"answer\": 0}\n" + line + "\n").utf8).write(
                to: URL(fileURLWithPath: path))
            #expect {
                try MultipleChoiceSet(argument: path)
            } throws: { e in
                "\(e)".contains(path) && "\(e)".contains("line 2") && "\(e)".contains(why)
            }
        }
    }
}

/// `--mc` on `eval` and `prune` as a user runs them.
@Suite("scalpel --mc", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct MultipleChoiceCommandTests {
    let exe = TestSupport.scalpelExecutable ?? ""
    let model = TestSupport.fixture("models/llama-gqa")
    let set = "tiny=" + TestSupport.fixture("mc/tiny.jsonl")

    func prune(_ out: String, _ extra: [String]) throws -> TestSupport.Output {
        try TestSupport.run(
            exe, TestSupport.fixturePruneArguments(model: model, out: out) + ["--ff-frac", "0.2", "--completions", "0"] + extra)
    }

    @Test("eval --json holds lm_eval's numbers; prune records acc per step, the last equal to eval on the exported model")
    func evalAndPrune() throws {
        let dir = TestSupport.temporaryFolder()
        let e = try TestSupport.run(exe, ["eval", "--model", model, "--mc", set, "--json", dir + "/eval.json"])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("tiny") && e.stdout.contains("acc_norm"))
        let json = try InputFile.jsonObject(dir + "/eval.json")
        let tiny = try #require((json["mc"] as? [String: [String: Any]])?["tiny"])
        let reference = try InputFile.jsonObject(TestSupport.fixture("mc/reference.json"))
        let expected = try #require((reference["models"] as? [String: [String: Any]])?["llama-gqa"])
        #expect(tiny["acc"] as? Double == expected["acc"] as? Double && tiny["acc_norm"] as? Double == expected["acc_norm"] as? Double)
        let lls = try #require(tiny["loglikelihoods"] as? [[Double]]), refs = try #require(expected["loglikelihoods"] as? [[Double]])
        #expect(zip(lls.joined(), refs.joined()).allSatisfy { abs($0 - $1) < 1e-4 })

        let run = dir + "/run"
        let p = try prune(run, ["--steps", "3", "--mc", set])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.contains("tiny acc"))
        let history = try InputFile.jsonObject(run + "/history.json")
        let steps = try #require(history["steps"] as? [[String: Any]])
        #expect(steps.count == 4)
        let accs = steps.compactMap { (($0["mc"] as? [String: [String: Any]])?["tiny"])?["acc"] as? Double }
        #expect(accs.count == 4 && accs.first == expected["acc"] as? Double)
        let exported = try TestSupport.run(exe, ["eval", "--model", run + "/model", "--mc", set, "--json", dir + "/exported.json"])
        #expect(exported.status == 0, "\(exported.stderr)")
        let after = try #require((try InputFile.jsonObject(dir + "/exported.json")["mc"] as? [String: [String: Any]])?["tiny"])
        #expect(after["acc"] as? Double == accs.last)
        let report = try TestSupport.run(exe, ["report", run])
        #expect(report.status == 0)
        #expect(try String(contentsOfFile: run + "/report.html", encoding: .utf8).contains("tiny acc %"))

        // a measure that names no --mc set is refused before anything runs
        let bad = try prune(dir + "/bad", ["--mc", set, "--forget-measure", "mc:other", "--stop-forget-drop", "5"])
        #expect(bad.status == 1 && bad.stderr.contains("--forget-measure") && bad.stderr.contains("tiny"), "\(bad.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }
}
