import ArgumentParser
import Foundation
import Scalpel

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write RUN_DIR/report.html: the run's charts and table in one self-contained page.")

    @Argument(help: "A run folder written by `scalpel prune`.")
    var folder: String

    @Option(help: "A second run (say, --ff-metric random) drawn on the same axes as a baseline.")
    var baseline: String?

    @Option(help: "Where to write the page (default: RUN_DIR/report.html).")
    var out: String?

    func run() throws {
        let path = out ?? folder + "/report.html"
        try RunReport.write(run: folder, baseline: baseline, to: path)
        print("report: \(path)")
    }
}
