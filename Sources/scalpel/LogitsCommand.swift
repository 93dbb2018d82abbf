import ArgumentParser
import Foundation
import Scalpel
import ScalpelCore
import ScalpelModels

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the token ids and logits of one input to a safetensors file (for debugging and tests).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Text to tokenize with the checkpoint's tokenizer (special tokens added).")
    var text: String?

    @Option(help: "Comma-separated token ids, used as they are.")
    var ids: String?

    @Option(help: "Output file: tensors ids (int32 [T]) and logits (float32 [T, V]).")
    var out: String

    func validate() throws {
        guard (text == nil) != (ids == nil) else { throw ValidationError("give exactly one of --text or --ids") }
    }

    func run() throws {
        try modelOptions.apply()
        try OutputPath.check(out, option: "--out", inputs: [modelOptions.model])
        let loaded = try modelOptions.load()
        _ = try loaded.requireLanguageModel()
        try loaded.requireHead()
        let tokens: [Int]
        if let ids {
            tokens = try ids.split(separator: ",").map {
                guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else {
                    throw ScalpelError.invalidArgument("--ids: '\($0)' is not an integer")
                }
                return v
            }
        } else {
            tokens = try loaded.requireTokenizer().encode(text!)
        }
        let shape = loaded.model.shape
        guard !tokens.isEmpty else { throw ScalpelError.invalidArgument("no tokens to run") }
        guard tokens.count <= shape.maxPositions else {
            throw ScalpelError.invalidArgument("\(tokens.count) tokens exceed the model's position limit \(shape.maxPositions)")
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= shape.vocabularySize }) {
            throw ScalpelError.invalidArgument("token id \(bad) is outside the vocabulary [0, \(shape.vocabularySize))")
        }
        let logits = loaded.model.logits([tokens])
        try SafetensorsWriter.write(
            [
                TensorRecord(name: "ids", shape: [tokens.count], int32s: tokens.map { Int32($0) }),
                TensorRecord(name: "logits", shape: logits.shape, floats: UnsafeBufferPointer(start: logits.pointer, count: logits.count)),
            ], to: out)
        print("wrote \(out): \(tokens.count) tokens × \(shape.vocabularySize) logits")
    }
}
