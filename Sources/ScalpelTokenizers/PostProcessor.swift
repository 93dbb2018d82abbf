import ScalpelCore

/// The `post_processor` of tokenizer.json, for single sequences: special tokens around the ids.
indirect enum PostProcessor {
    /// Ids to put before and after the sequence.
    case template(before: [Int], after: [Int])
    case sequence([PostProcessor])

    static let supported = ["TemplateProcessing", "RobertaProcessing", "BertProcessing", "ByteLevel", "Sequence"]

    init?(json: Any?, path: String) throws {
        guard let json = json as? [String: Any] else { return nil }
        let type = json["type"] as? String ?? ""
        func pairID(_ key: String) throws -> Int {
            guard let pair = json[key] as? [Any], pair.count == 2, let id = pair[1] as? Int else {
                throw ScalpelError.invalidFile(path: path, reason: "\(type) post-processor lacks \"\(key)\": [token, id]")
            }
            return id
        }
        switch type {
        case "ByteLevel":
            self = .template(before: [], after: [])
        case "RobertaProcessing", "BertProcessing":
            self = .template(before: [try pairID("cls")], after: [try pairID("sep")])
        case "TemplateProcessing":
            let specials = json["special_tokens"] as? [String: Any] ?? [:]
            var before: [Int] = [], after: [Int] = []
            var seenSequence = false
            for item in json["single"] as? [Any] ?? [] {
                guard let item = item as? [String: Any] else { continue }
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let special = item["SpecialToken"] as? [String: Any], let name = special["id"] as? String,
                    let entry = specials[name] as? [String: Any], let ids = entry["ids"] as? [Int]
                else {
                    throw ScalpelError.invalidFile(
                        path: path, reason: "TemplateProcessing names a special token missing from special_tokens")
                }
                if seenSequence { after += ids } else { before += ids }
            }
            self = .template(before: before, after: after)
        case "Sequence":
            let items = json["processors"] as? [Any] ?? []
            self = .sequence(try items.compactMap { try PostProcessor(json: $0, path: path) })
        default:
            throw ScalpelError.unsupported(path: path, field: "post_processor", value: type, supported: PostProcessor.supported)
        }
    }

    /// The ids the processor puts before and after a sequence.
    var wrapping: (before: [Int], after: [Int]) {
        switch self {
        case .template(let before, let after): return (before, after)
        case .sequence(let list):
            return list.reduce(([], [])) { acc, p in
                let w = p.wrapping; return (w.before + acc.0, acc.1 + w.after)
            }
        }
    }

    func apply(_ ids: [Int]) -> [Int] {
        switch self {
        case .template(let before, let after): return before + ids + after
        case .sequence(let list): return list.reduce(ids) { $1.apply($0) }
        }
    }
}
