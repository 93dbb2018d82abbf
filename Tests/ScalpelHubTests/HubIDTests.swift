import Foundation
import Testing

@testable import ScalpelHub

@Suite("Hub ids and the cache layout")
struct HubIDTests {
    @Test("ORG/NAME[@REVISION] parses; paths and odd names do not")
    func parsing() {
        #expect(HubID("HuggingFaceTB/SmolLM2-135M") == HubID("HuggingFaceTB/SmolLM2-135M@main"))
        #expect(HubID("a/b@v1.0")?.revision == "v1.0")
        #expect(HubID("a/b@refs/pr/3")?.revision == "refs/pr/3")
        let commit = String(repeating: "ab", count: 20)
        #expect(HubID("a/b@\(commit)")?.isCommit == true)
        for bad in ["", "a", "a/b/c", "/a/b", "./b", "../b", "a/..", "a/b@", "a/b@x y", "a/b@../../etc", "a/-b", "a/b c", "ä/b", "a/b@x:y"]
        {
            #expect(HubID(bad) == nil, "\(bad)")
        }
    }

    @Test("the cache root follows HF_HUB_CACHE, HF_HOME and XDG_CACHE_HOME as huggingface_hub does")
    func cacheRoot() {
        #expect(HubCache(environment: ["HF_HUB_CACHE": "/x", "HF_HOME": "/y"]).root == "/x")
        #expect(HubCache(environment: ["HF_HOME": "/y"]).root == "/y/hub")
        #expect(HubCache(environment: ["XDG_CACHE_HOME": "/z"]).root == "/z/huggingface/hub")
        #expect(HubCache(environment: [:]).root.hasSuffix("/.cache/huggingface/hub"))
        #expect(HubCache(root: "/c").folder("org/name") == "/c/models--org--name")
        #expect(Hub.normalize(etag: "W/\"abc\"") == "abc" && Hub.normalize(etag: "\"d\"") == "d")
        #expect(
            Hub.selectFiles([
                "config.json", "model.safetensors", "pytorch_model.bin", "onnx/model.safetensors", "tokenizer.json", "README.md",
            ])
                == ["config.json", "model.safetensors", "tokenizer.json"])
    }
}
