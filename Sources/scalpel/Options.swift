import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore

/// `--threads`, declared once for every command.
struct ThreadOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads for BLAS and Scalpel's own loops, 1 to 1024 (default: all cores).")
    var threads: Int?

    /// Sets the thread count: `--threads N`, or all cores.
    func apply() throws {
        if let threads, !(1...1024).contains(threads) {
            throw ScalpelError.invalidArgument("--threads must be between 1 and 1024 (got \(threads))")
        }
        Parallel.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    }
}

/// Options every command that runs a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: "A Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json) or a .gguf file.")
    var model: String

    @OptionGroup var threading: ThreadOptions

    func apply() throws { try threading.apply() }
}

/// How text data sets are read (METHOD.md §6), the same for every command that reads them.
struct TextDataOptions: ParsableArguments {
    @Option(name: .customLong("text-field"), help: "The field of .jsonl lines that holds the text.")
    var textField: String = "text"

    @Option(name: .customLong("ext"), help: "Only read files with these extensions in folders, comma-separated (e.g. py,txt).")
    var ext: String?

    /// `--ext` as a list, dots and spaces trimmed, in the order given.
    var extensions: [String]? {
        ext.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: ". ")) } }
    }

    /// The data set named by a `[NAME=]PATH` argument.
    func dataSet(_ argument: String) -> DataSet {
        DataSet(argument: argument, textField: textField, extensions: extensions.map(Set.init))
    }
}
