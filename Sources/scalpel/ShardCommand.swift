import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

struct Shard: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute shards of a pruning step's collection or evaluation, from a plan that `scalpel prune --executor` wrote.",
        discussion: """
            Each task's output (statistics, or evaluation sums) is written atomically where the plan says. The model and \
            the data must be at the paths the plan names (or the model's Hub id must resolve here).
            """)

    @Argument(help: "The plan.json an executor was called with.")
    var plan: String

    @Option(help: "Only these tasks (by index in the plan); repeat for several. Default: all.")
    var task: [Int] = []

    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try threading.apply()
        let plan = try ShardPlan(path: self.plan)
        try plan.run(indices: task.isEmpty ? nil : task) { print($0) }
    }
}
