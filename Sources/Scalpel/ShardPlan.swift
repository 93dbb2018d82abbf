import Foundation
import ScalpelCore
import ScalpelModels

/// One shard to compute: what, of which data set, which one, and where its result goes.
public struct ShardTask: Codable, Sendable, Equatable {
    public var kind: ShardKind
    public var role: DataRole
    public var index: Int
    /// The result: statistics (safetensors) for `collect`, metric sums (JSON) for `evaluate`.
    public var output: String
}

/// What `scalpel prune --executor COMMAND` hands to COMMAND for one phase of a step (`plan.json`):
/// the run's settings, the mask the model runs with, and the shards to compute. Each task is
/// computed by `scalpel shard PLAN.json --task N` on any machine with the model and the data;
/// the run adds the outputs in task order, so the result does not depend on where or in what
/// order they were computed.
public struct ShardPlan: Codable, Sendable {
    public var config: PruneConfig
    /// masks.safetensors of the model the shards run on (the run's pruning so far).
    public var masks: String
    /// Whether pruned neurons are compacted out of the forward pass (as the run does; results
    /// then match it bit for bit).
    public var compact: Bool
    public var tasks: [ShardTask]

    /// The folder inside a run folder where plans and shard outputs are kept while a phase runs.
    public static let folderName = ".shards"

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(try encoder.encode(self), to: path)
    }

    public init(config: PruneConfig, masks: String, compact: Bool, tasks: [ShardTask]) {
        self.config = config; self.masks = masks; self.compact = compact; self.tasks = tasks
    }

    public init(path: String) throws {
        do {
            self = try JSONDecoder().decode(ShardPlan.self, from: InputFile.read(path, limit: 1 << 26))
        } catch let e as ScalpelError {
            throw e
        } catch {
            throw ScalpelError.invalidFile(path: path, reason: "not a shard plan (\(error))")
        }
    }

    /// Computes tasks `indices` (all when nil) in this process: loads the model, replays the
    /// mask, compacts as the run does, and writes each task's output.
    public func run(indices: [Int]? = nil, log: (String) -> Void = { _ in }) throws {
        let chosen = indices ?? Array(tasks.indices)
        for i in chosen where !tasks.indices.contains(i) {
            throw ScalpelError.invalidArgument("task \(i) does not exist (the plan has \(tasks.count))")
        }
        let loaded = try ModelRegistry.load(config.model, dtype: config.precision)
        guard loaded.imageClassifier == nil else {
            throw ScalpelError.invalidArgument("shards are for text data sets; image runs compute every step in one process")
        }
        let mask = try Mask(path: masks, shape: loaded.network.shape)
        Pruner.replay(mask, onto: loaded.network)
        if compact && mask.lastStep > 0 { loaded.network.compact(mask.prunedNeurons) }
        let workload = try TextWorkload(config, loaded)
        for i in chosen {
            let t = tasks[i]
            try workload.runShard(t.kind, t.role, index: t.index, output: t.output)
            log("shard \(t.kind.rawValue) \(t.role.rawValue) \(t.index): \(t.output)")
        }
    }
}

extension PruningRun {
    /// The runner that hands a phase's shards to `executor`, or nil when they run in this process.
    func shardRunner() throws -> ShardRunner? {
        guard let command = executor else { return nil }
        guard workload is TextWorkload else {
            throw ScalpelError.invalidArgument("--executor runs text data sets; image runs compute every step in one process")
        }
        return { [unowned self] kind, role, count in
            let fm = FileManager.default
            let step = (self.history.steps.last?.step ?? -1) + 1
            let dir = "\(self.folder)/\(ShardPlan.folderName)/step-\(step)-\(kind.rawValue)-\(role.rawValue)"
            try? fm.removeItem(atPath: dir)
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let masks = dir + "/masks.safetensors"
            try self.mask.write(to: masks)
            let tasks = (0..<count).map {
                ShardTask(
                    kind: kind, role: role, index: $0,
                    output: "\(dir)/\(kind.rawValue)-\(role.rawValue)-\($0).\(kind == .collect ? "safetensors" : "json")")
            }
            let planPath = dir + "/plan.json"
            try ShardPlan(config: self.config, masks: masks, compact: self.compaction, tasks: tasks).write(to: planPath)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", command + " \"$0\"", planPath]
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw ScalpelError.invalidArgument(
                    "--executor '\(command)' failed (status \(p.terminationStatus)) on \(planPath); run the same command again with --resume"
                )
            }
            for t in tasks where !fm.fileExists(atPath: t.output) {
                throw ScalpelError.invalidFile(path: t.output, reason: "--executor '\(command)' left no output for this task")
            }
            return tasks.map(\.output)
        }
    }
}
