import Foundation
import ScalpelCore
import ScalpelModels
import ScalpelTokenizers

/// The plain-text table `scalpel eval` prints.
public enum MetricsTable {
    public static func render(_ rows: [(String, Metrics)]) -> String {
        let images = rows.contains { $0.1.top5 != nil }
        let header =
            images
            ? ["data set", "loss", "top1", "top5", "images"]
            : ["data set", "loss", "perplexity", "top1", "top10", "top1_skip50", "predictions"]
        var lines = [header]
        for (name, m) in rows {
            if images {
                lines.append([
                    name, String(format: "%.4f", m.loss), String(format: "%.2f%%", 100 * m.top1),
                    String(format: "%.2f%%", 100 * (m.top5 ?? 0)), "\(m.predictions)",
                ])
                continue
            }
            lines.append([
                name, String(format: "%.4f", m.loss), String(format: m.perplexity < 1e6 ? "%.3f" : "%.3e", m.perplexity),
                String(format: "%.2f%%", 100 * m.top1), String(format: "%.2f%%", 100 * m.top10),
                String(format: "%.2f%%", 100 * m.top1Skip50), "\(m.predictions)",
            ])
        }
        let widths = (0..<header.count).map { c in lines.map { $0[c].count }.max()! }
        return lines.map { row in
            row.enumerated().map { c, cell in
                c == 0
                    ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// The JSON file `scalpel eval --json` writes: `{"datasets": {NAME: {loss, perplexity, top1, top10, top1_skip50, predictions}}}`.
public enum MetricsJSON {
    public static func write(_ rows: [(String, Metrics)], extra: [String: Any] = [:], to path: String) throws {
        var sets: [String: Any] = [:]
        for (name, m) in rows {
            var entry: [String: Any] = [
                "loss": m.loss, "perplexity": m.perplexity, "top1": m.top1, "top10": m.top10,
                "top1_skip50": m.top1Skip50, "predictions": m.predictions,
            ]
            if let top5 = m.top5 { entry["top5"] = top5 }
            sets[name] = entry
        }
        var object = extra
        object["datasets"] = sets
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writeAtomically(data + Data("\n".utf8), to: path)
    }
}

extension LoadedModel {
    /// Throws, naming the folder, when the checkpoint is an encoder without its LM head.
    public func requireHead() throws {
        guard model.hasHead else {
            throw ScalpelError.invalidFile(
                path: folder, reason: "the checkpoint has no LM head (an encoder alone); eval and prune need a model that predicts tokens")
        }
    }

    /// The tokenizer, or an error naming the folder when it has no tokenizer.json.
    public func requireTokenizer() throws -> Tokenizer {
        guard let tokenizer else {
            throw ScalpelError.invalidFile(path: folder, reason: "no tokenizer.json in the checkpoint folder")
        }
        return tokenizer
    }
}
