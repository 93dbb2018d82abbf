import ScalpelCore

/// A token string compared byte for byte. Swift's `String` equality is canonical equivalence
/// ("e\u{301}" == "é"), but vocabularies distinguish the two, as HF does.
struct TokenKey: Hashable {
    let bytes: [UInt8]
    init(_ s: String) { bytes = Array(s.utf8) }
    init<S: Sequence>(scalars: S) where S.Element == Unicode.Scalar {
        var b: [UInt8] = []
        for u in scalars { b.append(contentsOf: String(u).utf8) }
        bytes = b
    }
}

/// The model of a tokenizer: one pre-tokenized piece to ids.
protocol TokenModel: AnyObject {
    var vocab: [TokenKey: Int] { get }
    var tokens: [Int: String] { get }
    func tokenize(_ piece: String) -> [Int]
}

/// A byte-pair-encoding model (`"model": {"type": "BPE"}` in tokenizer.json).
final class BPEModel: TokenModel {
    /// token → id, keyed by exact bytes
    let vocab: [TokenKey: Int]
    /// id → token
    let tokens: [Int: String]
    /// (left id, right id) → (rank, merged id)
    private let merges: [Pair: (rank: Int, id: Int)]
    let unkID: Int?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let prefix: String
    let suffix: String
    private var cache: [TokenKey: [Int]] = [:]
    private var byteTokens: [Int?] = []

    struct Pair: Hashable { let a: Int32, b: Int32 }

    init(json: [String: Any], path: String) throws {
        guard let vocab = json["vocab"] as? [String: Any] else {
            throw ScalpelError.invalidFile(path: path, reason: "BPE model has no \"vocab\" object")
        }
        var v: [TokenKey: Int] = [:]
        var inverse: [Int: String] = [:]
        v.reserveCapacity(vocab.count)
        for (k, id) in vocab {
            guard let n = id as? Int, (0..<Int(Int32.max)).contains(n) else {
                throw ScalpelError.invalidFile(path: path, reason: "vocab entry '\(k)' is not an integer id in [0, 2^31)")
            }
            v[TokenKey(k)] = n
            inverse[n] = k
        }
        self.vocab = v
        self.tokens = inverse
        prefix = json["continuing_subword_prefix"] as? String ?? ""
        suffix = json["end_of_word_suffix"] as? String ?? ""
        fuseUnk = json["fuse_unk"] as? Bool ?? false
        byteFallback = json["byte_fallback"] as? Bool ?? false
        ignoreMerges = json["ignore_merges"] as? Bool ?? false
        if let unk = json["unk_token"] as? String { unkID = v[TokenKey(unk)] } else { unkID = nil }
        var m: [Pair: (Int, Int)] = [:]
        let list = json["merges"] as? [Any] ?? []
        m.reserveCapacity(list.count)
        for (rank, entry) in list.enumerated() {
            let parts: [String]
            if let s = entry as? String {
                parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let a = entry as? [String] {
                parts = a
            } else {
                parts = []
            }
            guard parts.count == 2 else {
                throw ScalpelError.invalidFile(path: path, reason: "merge \(rank) is not a pair of tokens: \(entry)")
            }
            let right = prefix.isEmpty ? parts[1] : String(parts[1].dropFirst(prefix.count))
            guard let a = v[TokenKey(parts[0])], let b = v[TokenKey(parts[1])], let merged = v[TokenKey(parts[0] + right)] else {
                throw ScalpelError.invalidFile(
                    path: path, reason: "merge \(rank) '\(parts[0]) \(parts[1])' uses a token missing from the vocab")
            }
            if m[Pair(a: Int32(a), b: Int32(b))] == nil { m[Pair(a: Int32(a), b: Int32(b))] = (rank, merged) }
        }
        merges = m
        if byteFallback {
            byteTokens = (0..<256).map { v[TokenKey(String(format: "<0x%02X>", $0))] }
        }
    }

    /// Token ids of one pre-tokenized piece.
    func tokenize(_ piece: String) -> [Int] {
        let key = TokenKey(piece)
        if let hit = cache[key] { return hit }
        let ids = encode(piece, key: key)
        if cache.count < 200_000 && key.bytes.count <= 256 { cache[key] = ids }
        return ids
    }

    private func encode(_ piece: String, key: TokenKey) -> [Int] {
        if ignoreMerges, let id = vocab[key] { return [id] }
        // initial symbols: one per character, with prefix/suffix as configured
        var symbols: [Int] = []
        // one symbol per Unicode scalar (a Rust `char`), not per grapheme cluster
        let chars = Array(piece.unicodeScalars)
        var lastWasUnk = false
        for (i, ch) in chars.enumerated() {
            var s = String(ch)
            if i > 0 && !prefix.isEmpty { s = prefix + s }
            if i == chars.count - 1 && !suffix.isEmpty { s += suffix }
            if let id = vocab[TokenKey(s)] {
                symbols.append(id); lastWasUnk = false
            } else if byteFallback, case let ids = Array(String(ch).utf8).compactMap({ byteTokens[Int($0)] }),
                ids.count == String(ch).utf8.count
            {
                symbols += ids
                lastWasUnk = false
            } else if let unk = unkID {
                if !(fuseUnk && lastWasUnk) { symbols.append(unk) }
                lastWasUnk = true
            }
        }
        return merge(symbols)
    }

    /// Merges the lowest-ranked adjacent pair (leftmost on ties) until none applies. Symbols form
    /// a linked list and candidate pairs a heap ordered by (rank, position): O(n log n), so one
    /// long piece (a line of base64, a minified file) cannot stall tokenization.
    func merge(_ initial: [Int]) -> [Int] {
        var symbols = initial
        let n = symbols.count
        guard n > 1 else { return symbols }
        var next = Array(1...n), previous = Array(-1..<(n - 1))  // next[n-1] == n: the end
        var alive = [Bool](repeating: true, count: n)
        // heap entries: (rank, left position, left id, right id) — stale entries are skipped
        var heap: [(rank: Int, at: Int, a: Int, b: Int)] = []
        func less(_ x: (rank: Int, at: Int, a: Int, b: Int), _ y: (rank: Int, at: Int, a: Int, b: Int)) -> Bool {
            x.rank != y.rank ? x.rank < y.rank : x.at < y.at
        }
        func push(_ e: (rank: Int, at: Int, a: Int, b: Int)) {
            heap.append(e)
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                guard less(heap[c], heap[p]) else { break }
                heap.swapAt(c, p); c = p
            }
        }
        func pop() -> (rank: Int, at: Int, a: Int, b: Int) {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var p = 0
                while true {
                    let l = 2 * p + 1, r = l + 1
                    var m = p
                    if l < heap.count && less(heap[l], heap[m]) { m = l }
                    if r < heap.count && less(heap[r], heap[m]) { m = r }
                    if m == p { break }
                    heap.swapAt(p, m); p = m
                }
            }
            return top
        }
        func candidate(_ i: Int) {
            let j = next[i]
            guard j < n, let m = merges[Pair(a: Int32(symbols[i]), b: Int32(symbols[j]))] else { return }
            push((m.rank, i, symbols[i], symbols[j]))
        }
        for i in 0..<(n - 1) { candidate(i) }
        while !heap.isEmpty {
            let e = pop()
            let i = e.at
            guard alive[i], symbols[i] == e.a else { continue }
            let j = next[i]
            guard j < n, symbols[j] == e.b, let m = merges[Pair(a: Int32(e.a), b: Int32(e.b))], m.rank == e.rank else { continue }
            symbols[i] = m.id
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { previous[next[j]] = i }
            if previous[i] >= 0 { candidate(previous[i]) }
            candidate(i)
        }
        var out: [Int] = []
        var i = 0
        while i < n { out.append(symbols[i]); i = next[i] }
        return out
    }
}
