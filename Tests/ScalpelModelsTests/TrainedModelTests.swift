import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels

/// The committed trained models (models/vit-fashion, models/mlm: fp16 checkpoints trained by
/// Tools/experiments/) against HF's image processor, HF tokenizers and transformers
/// (Tools/fixtures/make_trained_references.py).
@Suite("Trained models load as transformers loads them")
struct TrainedModelTests {
    @Test("Fashion-MNIST ViT: pixels within 1/255, logits within 1e-4 of transformers, same class from the PNGs")
    func fashionViT() throws {
        let loaded = try ModelRegistry.load(TestSupport.root + "/models/vit-fashion")
        let model = try #require(loaded.imageClassifier)
        let preprocessor = try #require(loaded.preprocessor)
        #expect(model.labels.count == 10 && model.labels[1] == "trouser")
        let reference = try SafetensorsFile(path: TestSupport.fixture("trained/vit-fashion.reference.safetensors"))
        let data = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("trained/vit-fashion.reference.json")))
        let index = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["images"] as? [[String: Any]])
        #expect(index.count == 30)
        var worstPixel: Float = 0, worstLogit: Float = 0, worstFromPNG: Float = 0
        var agree = 0
        for (i, entry) in index.enumerated() {
            let path = TestSupport.fixture("trained/fashion/" + (entry["image"] as! String))
            let pixels = preprocessor.pixelValues(try RGBImage(path: path))
            let wantPixels = try reference.floatTensor("pixels_\(i)")
            #expect(pixels.shape == wantPixels.shape)
            // in rescaled units: normalised values times the std
            for j in 0..<pixels.count { worstPixel = max(worstPixel, abs(pixels[j] - wantPixels[j]) * preprocessor.std![0]) }
            let want = try reference.floatTensor("logits_\(i)")
            let fromReference = model.classify([wantPixels], probe: nil)
            let fromPNG = model.classify([pixels], probe: nil)
            for j in 0..<10 {
                worstLogit = max(worstLogit, abs(fromReference[j] - want[j]))
                worstFromPNG = max(worstFromPNG, abs(fromPNG[j] - want[j]))
            }
            let argmax = (0..<10).max { fromPNG[$0] < fromPNG[$1] }!
            let wantArgmax = (0..<10).max { want[$0] < want[$1] }!
            if argmax == wantArgmax { agree += 1 }
        }
        #expect(worstPixel <= 1.0 / 255 + 1e-6, "worst pixel difference \(worstPixel * 255)/255")
        #expect(worstLogit < 1e-4, "max |Δlogit| = \(worstLogit)")
        #expect(worstFromPNG < 1e-3, "max |Δlogit| from our own PNG decoding = \(worstFromPNG)")
        #expect(agree == 30)
    }

    @Test("masked LM: ids equal HF tokenizers' (a literal <mask> too), logits within 1e-4 of transformers")
    func maskedLM() throws {
        let loaded = try ModelRegistry.load(TestSupport.root + "/models/mlm")
        let tokenizer = try #require(loaded.tokenizer)
        guard case .masked(let maskToken) = loaded.model.task else {
            Issue.record("models/mlm is not a masked LM")
            return
        }
        #expect(maskToken == 2048)
        let reference = try SafetensorsFile(path: TestSupport.fixture("trained/mlm.reference.safetensors"))
        var j = 0
        var worst: Float = 0
        while let text = reference.metadata["text_\(j)"] {
            #expect(try tokenizer.encode(text) == (try reference.intValues("ids_\(j)")), "ids of text \(j)")
            let input = try reference.intValues("input_\(j)")
            let want = try reference.floatTensor("logits_\(j)")
            let got = loaded.model.logits([input])
            #expect(got.shape == want.shape)
            for i in 0..<want.count { worst = max(worst, abs(got[i] - want[i])) }
            j += 1
        }
        #expect(j == 4)
        #expect(worst < 1e-4, "max |Δlogit| = \(worst)")
    }
}
