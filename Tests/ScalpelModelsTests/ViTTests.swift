import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels

/// ViT against Tools/fixtures/make_vit_fixtures.py: HF's PIL image processor and transformers' logits.
@Suite("ViT image classification parity")
struct ViTTests {
    static let loaded = try! ModelRegistry.load(TestSupport.fixture("models/vit"))
    static let reference = try! SafetensorsFile(path: TestSupport.fixture("models/vit.reference.safetensors"))
    static let images: [String] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("models/vit.reference.json")))
        return (try! JSONSerialization.jsonObject(with: data) as! [String: [String]])["images"]!
    }()

    @Test("pixel values within 1/255 of HF's image processor (PNG RGB/RGBA/grey/palette, JPEG, up- and downscaling)")
    func pixels() throws {
        #expect(Self.images.count == 12)
        let pre = Self.loaded.preprocessor!
        var worst: Float = 0
        for (i, name) in Self.images.enumerated() {
            let got = pre.pixelValues(try RGBImage(path: TestSupport.fixture("images/" + name)))
            let want = try Self.reference.floatTensor("pixels_\(i)")
            #expect(got.shape == want.shape)
            // in rescaled units (before normalization by std 0.5)
            for j in 0..<got.count { worst = max(worst, abs(got[j] - want[j]) * 0.5) }
        }
        #expect(worst <= 1.0 / 255 + 1e-6, "worst pixel difference \(worst * 255)/255")
    }

    @Test("logits within 1e-4 of transformers given the same pixels")
    func logits() throws {
        let model = Self.loaded.imageClassifier!
        #expect(model.labels == ["bird", "cat", "dog", "frog"])
        let pixels = try (0..<Self.images.count).map { try Self.reference.floatTensor("pixels_\($0)") }
        let got = model.classify(pixels, probe: nil)
        var worst: Float = 0
        for i in 0..<Self.images.count {
            let want = try Self.reference.floatTensor("logits_\(i)")
            for j in 0..<4 { worst = max(worst, abs(got[i * 4 + j] - want[j])) }
        }
        #expect(worst < 1e-4, "max |Δlogit| \(worst)")
    }

    @Test("bad images are one-line errors naming the file")
    func badImage() throws {
        let path = TestSupport.temporaryFolder() + "/x.png"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("images/cat/cat0.png")))
        bytes = bytes.prefix(60)
        try bytes.write(to: URL(fileURLWithPath: path))
        do { _ = try RGBImage(path: path); Issue.record("no error") } catch {
            #expect("\(error)".hasPrefix(path) && "\(error)".contains("corrupt PNG"), "\(error)")
        }
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try RGBImage(path: path); Issue.record("no error") } catch {
            #expect("\(error)" == "\(path): not a PNG or JPEG image")
        }
    }
}
