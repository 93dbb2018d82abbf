import Foundation
import Testing
import TestSupport
import ScalpelCore
@testable import ScalpelModels

/// The committed dropout pair (models/pair/, fp16 checkpoints with their own byte-level BPE
/// tokenizer) against HF tokenizers and transformers (Tools/fixtures/make_pair_reference.py).
@Suite("The dropout pair loads as transformers loads it")
struct PairTests {
    @Test(arguments: ["dropout", "no-dropout"])
    func idsAndLogits(name: String) throws {
        let loaded = try ModelRegistry.load(TestSupport.root + "/models/pair/" + name)
        let tokenizer = try #require(loaded.tokenizer)
        let reference = try SafetensorsFile(path: TestSupport.fixture("pair/\(name).reference.safetensors"))
        var j = 0
        var worst: Float = 0
        while let text = reference.metadata["text_\(j)"] {
            let ids = try reference.intValues("ids_\(j)")
            #expect(try tokenizer.encode(text) == ids, "ids of text \(j)")
            let expected = try reference.floatTensor("logits_\(j)")
            let got = loaded.model.logits([ids])
            #expect(got.shape == expected.shape)
            for i in 0..<expected.count { worst = max(worst, abs(got[i] - expected[i])) }
            j += 1
        }
        #expect(j == 3)
        #expect(worst < 1e-4, "max |Δlogit| = \(worst)")
    }
}
