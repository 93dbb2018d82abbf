import Foundation
import Testing
import TestSupport
import ScalpelCore
import ScalpelModels
@testable import Scalpel

/// Headless Chromium, when installed (Debian's `chromium`).
let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite("report.html", .enabled(if: TestSupport.scalpelExecutable != nil, "the scalpel executable is not built"))
struct ReportTests {
    /// A small run and its report.
    static let run: String = {
        let out = TestSupport.temporaryFolder() + "/run"
        let r = try! TestSupport.run(
            TestSupport.scalpelExecutable!,
            [
                "prune", "--model", TestSupport.fixture("models/opt-prenorm"), "--forget", TestSupport.fixture("data/code/docs.jsonl"),
                "--retain", TestSupport.fixture("data/prose"), "--collect-tokens", "100", "--eval-tokens", "80", "--context", "32",
                "--steps", "3", "--ff-frac", "0.05", "--attn-frac", "0.02", "--out", out,
            ])
        precondition(r.status == 0, r.stderr)
        let base = TestSupport.temporaryFolder() + "/random"
        _ = try! TestSupport.run(
            TestSupport.scalpelExecutable!,
            [
                "prune", "--model", TestSupport.fixture("models/opt-prenorm"), "--forget", TestSupport.fixture("data/code/docs.jsonl"),
                "--retain", TestSupport.fixture("data/prose"), "--collect-tokens", "100", "--eval-tokens", "80", "--context", "32",
                "--steps", "3", "--ff-frac", "0.05", "--ff-metric", "random", "--out", base,
            ])
        let rep = try! TestSupport.run(TestSupport.scalpelExecutable!, ["report", out, "--baseline", base])
        precondition(rep.status == 0, rep.stderr)
        return out
    }()

    func count(_ needle: String, in s: String) -> Int { s.components(separatedBy: needle).count - 1 }

    @Test("one self-contained page: four charts, Top1 Max Δ marked, the baseline, a row per step")
    func page() throws {
        let html = try String(contentsOfFile: Self.run + "/report.html", encoding: .utf8)
        #expect(count("<svg", in: html) == 4)
        #expect(count("class=\"series\"", in: html) >= 8)  // 4 metric lines + 2 baseline + 2 loss (+ histograms)
        #expect(html.contains("random: forget top-1"))
        #expect(html.contains("class=\"maxdelta\"") && html.contains("Top1 Max Δ"))
        #expect(count("class=\"bar\"", in: html) == 4)  // 2 layers × FF and attention
        #expect(count("class=\"threshold\"", in: html) == 3)
        #expect(count("<tr><td>", in: html) == 4)
        // nothing to fetch: no scripts, no external sources or links
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href=") && !html.contains("@import"))
    }

    @Test(
        "headless Chromium draws the charts (forget red and retain blue pixels on screen)",
        .enabled(if: chromium != nil, "skipped: apt-get install chromium to render the report headless"))
    func rendered() throws {
        let png = TestSupport.temporaryFolder() + "/report.png"
        let r = try TestSupport.run(
            chromium!,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1000,1600", "--screenshot=\(png)", "file://" + Self.run + "/report.html",
            ])
        #expect(FileManager.default.fileExists(atPath: png), "\(r.stderr)")
        let image = try RGBImage(path: png)
        #expect(image.width == 1000)
        func pixels(near c: (Int, Int, Int)) -> Int {
            var n = 0
            for i in stride(from: 0, to: image.pixels.count, by: 3) {
                if abs(Int(image.pixels[i]) - c.0) < 30 && abs(Int(image.pixels[i + 1]) - c.1) < 30
                    && abs(Int(image.pixels[i + 2]) - c.2) < 30
                {
                    n += 1
                }
            }
            return n
        }
        #expect(pixels(near: (214, 39, 40)) > 100)  // forget series
        #expect(pixels(near: (31, 119, 180)) > 100)  // retain series
        #expect(pixels(near: (44, 160, 44)) > 20)  // FF bars
    }
}
