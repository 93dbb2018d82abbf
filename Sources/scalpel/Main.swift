import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

@main
struct Main {
    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)  // one line per step, as it happens, even into a file or pipe
        do {
            var command = try ScalpelCommand.parseAsRoot()
            try command.run()
        } catch let error as ScalpelError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(1)
        } catch {
            ScalpelCommand.exit(withError: error)
        }
    }
}

struct ScalpelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scalpel",
        abstract: "Selective pruning: remove a capability from a transformer, keep the rest.",
        subcommands: [Eval.self, Logits.self, Collect.self, Prune.self, Report.self, Demo.self, Sgemm.self]
    )
}

/// Options every command that runs a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: "A Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json).")
    var model: String

    @Option(help: "Threads for BLAS and Scalpel's own loops (default: all cores).")
    var threads: Int?

    func apply() throws { try applyThreads(threads) }
}

/// Sets the thread count every command shares: `--threads N`, or all cores.
func applyThreads(_ threads: Int?) throws {
    if let threads, threads < 1 { throw ScalpelError.invalidArgument("--threads must be at least 1 (got \(threads))") }
    Parallel.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
}
