import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels
@testable import Scalpel

@Suite("Image classification: ImageFolder, evaluation, pruning")
struct ImageTests {
    static let folder = TestSupport.fixture("images")
    static let loaded = try! ModelRegistry.load(TestSupport.fixture("models/vit"))
    static let reference = try! SafetensorsFile(path: TestSupport.fixture("models/vit.reference.safetensors"))
    static let names: [String] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("models/vit.reference.json")))
        return (try! JSONSerialization.jsonObject(with: data) as! [String: [String]])["images"]!
    }()

    @Test("examples are ordered round-robin over sorted classes; class filters and errors")
    func order() throws {
        let labels = Self.loaded.imageClassifier!.labels
        let all = try ImageFolder(path: Self.folder).examples(labels: labels)
        #expect(all.prefix(4).map(\.label) == [0, 1, 2, 3])
        #expect(
            all.map { ($0.path as NSString).lastPathComponent }.prefix(5) == [
                "bird0.png", "cat0.png", "dog0.png", "frog0.png", "bird1.png",
            ])
        let two = try ImageFolder(path: Self.folder, classes: ["cat", "frog"]).examples(labels: labels)
        #expect(Set(two.map(\.label)) == [1, 3] && two.count == 6)
        let others = try ImageFolder(path: Self.folder, excluding: ["cat"]).examples(labels: labels)
        #expect(!others.contains { $0.label == 1 } && others.count == 9)
        #expect(throws: ScalpelError.self) { _ = try ImageFolder(path: Self.folder, classes: ["horse"]).examples(labels: labels) }
        do { _ = try ImageFolder(path: Self.folder).select(labels: labels, skip: 10, count: 5); Issue.record("no error") } catch {
            #expect("\(error)".contains("data set has 12 images, but images [10, 15) were asked for"))
        }
    }

    @Test("loss, top-1 and top-5 equal those of transformers' logits")
    func evaluation() throws {
        let classifier = Self.loaded.imageClassifier!
        let examples = try ImageFolder(path: Self.folder).examples(labels: classifier.labels)
        let m = try ImageEvaluator(model: classifier, preprocessor: Self.loaded.preprocessor!, batchImages: 5).evaluate(examples)
        var loss = 0.0, top1 = 0.0
        for ex in examples {
            let name = ex.path.replacingOccurrences(of: Self.folder + "/", with: "")
            let logits = try Self.reference.floatTensor("logits_\(Self.names.firstIndex(of: name)!)").values.map(Double.init)
            let lse = log(logits.map { exp($0) }.reduce(0, +))
            loss += lse - logits[ex.label]
            if logits.firstIndex(of: logits.max()!) == ex.label { top1 += 1 }
        }
        #expect(m.predictions == 12)
        // Scalpel decodes and resizes the images itself (pixels within 1/255 of HF's, JPEG decoders
        // may differ by one level), so the loss agrees to 1e-3 rather than the logits' 1e-4
        #expect(abs(m.loss - loss / 12) < 1e-3)
        #expect(abs(m.top1 - top1 / 12) < 1e-9)
        #expect(m.top5 == 1.0)  // four classes
    }

    @Test(
        "prune --forget-classes runs, and transformers loads the export with equal logits",
        .enabled(
            if: TestSupport.scalpelExecutable != nil && TestSupport.python(with: ["torch", "transformers"]) != nil,
            "needs the scalpel executable and python3 with torch and transformers"))
    func prune() throws {
        let out = TestSupport.temporaryFolder() + "/run"
        let r = try TestSupport.run(
            TestSupport.scalpelExecutable!,
            [
                "prune", "--model", TestSupport.fixture("models/vit"), "--forget", Self.folder, "--retain", Self.folder,
                "--forget-classes", "bird", "--collect-tokens", "1", "--eval-tokens", "2", "--steps", "2",
                "--ff-frac", "0.05", "--attn-frac", "0.02", "--offset", "mean", "--out", out,
            ])
        #expect(r.status == 0, "\(r.stderr)")
        let history =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/history.json"))) as! [String: Any]
        let last = (history["steps"] as! [[String: Any]]).last!
        #expect((last["pruned"] as! [String: Int]) == ["ff": 2 * 9, "attn": 2 * 1])
        #expect(((last["metrics"] as! [String: [String: Any]])["forget"]!["predictions"] as! Int) == 2)
        let pruned = try ModelRegistry.load(out + "/model")
        let pixels = try Self.reference.floatTensor("pixels_0")
        let ours = pruned.imageClassifier!.classify([pixels], probe: nil)
        let file = TestSupport.temporaryFolder() + "/hf.safetensors"
        let py = try TestSupport.run(
            "/usr/bin/env",
            [
                "python3", TestSupport.root + "/Tools/checks/check_export.py", out + "/model",
                TestSupport.fixture("models/vit.reference.safetensors") + ":pixels_0", file,
            ])
        #expect(py.status == 0, "\(py.stderr)")
        let theirs = try SafetensorsFile(path: file).floatTensor("logits")
        #expect((0..<4).allSatisfy { abs(ours[$0] - theirs[$0]) < 1e-4 })
    }

    @Test("--eval-folder: statistics from one folder, metrics from another (the same class selection); needs --forget-classes")
    func evalFolder() throws {
        // an evaluation folder holding only some of the images: bird has 2, the other classes 1 each
        let eval = TestSupport.temporaryFolder() + "/test"
        for (label, keep) in [("bird", ["bird0.png", "bird1.png"]), ("cat", ["cat0.png"]), ("dog", ["dog1.png"]), ("frog", ["frog0.png"])] {
            try FileManager.default.createDirectory(atPath: eval + "/" + label, withIntermediateDirectories: true)
            for name in keep {
                try FileManager.default.copyItem(atPath: Self.folder + "/" + label + "/" + name, toPath: eval + "/" + label + "/" + name)
            }
        }
        var config = PruneConfig(model: TestSupport.fixture("models/vit"), forget: Self.folder, retain: Self.folder)
        config.forgetClasses = ["bird"]
        config.evalFolder = eval
        config.collectTokens = 3
        config.evalTokens = 2
        let workload = try Workloads.make(config, Self.loaded) as! ImageWorkload
        #expect(workload.portions[.forget].collect.map(\.path).allSatisfy { $0.hasPrefix(Self.folder + "/bird/") })
        #expect(workload.portions[.forget].collect.count == 3)
        #expect(workload.portions[.forget].evaluate.map(\.path) == [eval + "/bird/bird0.png", eval + "/bird/bird1.png"])
        // retain: every class but bird, round-robin in the evaluation folder
        #expect(workload.portions[.retain].evaluate.map(\.path) == [eval + "/cat/cat0.png", eval + "/dog/dog1.png"])
        // without the folder, evaluation takes the images after the collection portion
        config.evalFolder = nil
        config.collectTokens = 1
        let plain = try Workloads.make(config, Self.loaded) as! ImageWorkload
        #expect(
            plain.portions[.forget].evaluate.isEmpty == false
                && plain.portions[.forget].evaluate.allSatisfy { $0.path.hasPrefix(Self.folder) })
        config.evalFolder = eval
        config.forgetClasses = nil
        config.retain = eval
        #expect(throws: ScalpelError.self) { _ = try Workloads.make(config, Self.loaded) }
        config.evalTokens = 3
        config.forgetClasses = ["bird"]
        config.retain = Self.folder
        do { _ = try Workloads.make(config, Self.loaded); Issue.record("no error") } catch {
            #expect("\(error)".contains("data set has 2 images, but images [0, 3) were asked for"), "\(error)")
        }
    }

    @Test(
        "scalpel eval on the 10,000 Fashion-MNIST test images: the committed ViT's accuracy (models/vit-fashion/README.md)",
        .enabled(
            if: TestSupport.scalpelExecutable != nil && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist")
                && TestSupport.python(with: ["PIL", "numpy", "torch", "scalpel_reference.fashion_mnist"]) != nil,
            "needs the scalpel executable, Debian's dataset-fashion-mnist and python3 with PIL"))
    func fashionMNIST() throws {
        let out = TestSupport.temporaryFolder()
        let write = try TestSupport.run(
            "/usr/bin/env", ["python3", TestSupport.root + "/Tools/data/fashion_mnist_folders.py", "--out", out, "--splits", "test"])
        #expect(write.status == 0, "\(write.stderr)")
        let r = try TestSupport.run(
            TestSupport.scalpelExecutable!,
            ["eval", "--model", TestSupport.root + "/models/vit-fashion", "--data", "test=" + out + "/test", "--json", out + "/m.json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/m.json"))) as! [String: Any]
        let sets = json["datasets"] as? [String: [String: Any]] ?? [:]
        let test = try #require(sets["test"], "\(json)")
        #expect(test["predictions"] as? Int == 10_000)
        // the card's PyTorch accuracy (after fp16 rounding), read from the training record
        let training =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: TestSupport.root + "/models/vit-fashion/training.json"))) as! [String: Any]
        let pytorch = try #require(training["test_top1_f16"] as? Double)
        let top1 = try #require(test["top1"] as? Double)
        #expect(top1 >= 0.88, "top-1 \(top1)")
        // Scalpel decodes the PNGs and computes in Float32 as PyTorch does: at most a few images may flip
        #expect(abs(top1 - pytorch) <= 5e-4, "Scalpel \(top1) against PyTorch \(pytorch)")
    }
}
