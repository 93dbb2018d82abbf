import CKernels
import Foundation
import ScalpelCore
import ScalpelModels

/// An image and its class id.
public struct ImageExample: Sendable, Equatable {
    public let path: String
    public let label: Int
}

/// An ImageFolder data set (METHOD.md §6): one sub-folder per class, PNG and JPEG files inside.
/// Sub-folder names must be the model's labels (`id2label`) or class ids. Examples are ordered
/// round-robin over the classes (first image of each class, then the second, ...), each class in
/// sorted file order, so any prefix of the data set covers the classes evenly.
public struct ImageFolder: Sendable {
    public let path: String
    /// Only these classes (folder names), when given.
    public var classes: Set<String>?
    /// All but these classes, when given.
    public var excluding: Set<String>?

    public init(path: String, classes: Set<String>? = nil, excluding: Set<String>? = nil) {
        self.path = path; self.classes = classes; self.excluding = excluding
    }

    static let extensions: Set<String> = ["png", "jpg", "jpeg", "PNG", "JPG", "JPEG"]

    /// The class folders present, sorted.
    public func classFolders() throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw ScalpelError.fileNotFound(path: path) }
        guard isDir.boolValue else {
            throw ScalpelError.invalidData(path: path, reason: "expected a folder of class sub-folders of images")
        }
        return try FileManager.default.contentsOfDirectory(atPath: path).filter { name in
            var sub: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &sub) && sub.boolValue
        }.sorted()
    }

    /// The examples, labelled with `labels` (the model's id2label).
    public func examples(labels: [String]) throws -> [ImageExample] {
        let folders = try classFolders()
        if let classes {
            let unknown = classes.subtracting(folders)
            guard unknown.isEmpty else {
                throw ScalpelError.invalidData(
                    path: path,
                    reason: "no class folder named \(unknown.sorted().joined(separator: ", ")) (found: \(folders.joined(separator: ", ")))")
            }
        }
        var perClass: [[ImageExample]] = []
        for folder in folders {
            if let classes, !classes.contains(folder) { continue }
            if let excluding, excluding.contains(folder) { continue }
            guard let label = labels.firstIndex(of: folder) ?? Int(folder).flatMap({ $0 < labels.count ? $0 : nil }) else {
                throw ScalpelError.invalidData(
                    path: path + "/" + folder,
                    reason:
                        "class folder is neither a label of the model nor a class id (labels: \(labels.prefix(10).joined(separator: ", "))\(labels.count > 10 ? ", ..." : ""))"
                )
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: path + "/" + folder)
                .filter {
                    !$0.hasPrefix(".") && ImageFolder.extensions.contains(($0 as NSString).pathExtension)
                        && InputFile.isRegular(path + "/" + folder + "/" + $0)
                }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            perClass.append(files.map { ImageExample(path: path + "/" + folder + "/" + $0, label: label) })
        }
        var out: [ImageExample] = []
        let longest = perClass.map(\.count).max() ?? 0
        for i in 0..<longest { for c in perClass where i < c.count { out.append(c[i]) } }
        if out.isEmpty {
            throw ScalpelError.invalidData(path: path, reason: "empty data set: no PNG or JPEG images in the selected classes")
        }
        return out
    }

    /// Examples [skip, skip + count), or an error saying how many there are.
    public func select(labels: [String], skip: Int, count: Int?) throws -> [ImageExample] {
        let all = try examples(labels: labels)
        let end = count.map { skip + $0 } ?? all.count
        guard end <= all.count, skip < all.count else {
            throw ScalpelError.invalidData(
                path: path, reason: "data set has \(all.count) images, but images [\(skip), \(end)) were asked for")
        }
        return Array(all[skip..<end])
    }
}

/// Runs an image classifier over examples: metrics (top-1, top-5, loss) and statistics over every token.
public struct ImageEvaluator {
    public let model: ImageClassifier
    public let preprocessor: ImagePreprocessor
    public var batchImages = 16

    public init(model: ImageClassifier, preprocessor: ImagePreprocessor, batchImages: Int = 16) {
        self.model = model; self.preprocessor = preprocessor; self.batchImages = batchImages
    }

    func pixels(_ batch: ArraySlice<ImageExample>) throws -> [Tensor] {
        try batch.map { try preprocessor.pixelValues(RGBImage(path: $0.path)) }
    }

    /// Loss, top-1, top-5 (and top-10) over the images; `top1_skip50` equals top-1 (no frequent-target notion for images).
    public func evaluate(_ examples: [ImageExample], progress: ((Int) -> Void)? = nil) throws -> Metrics {
        var loss = 0.0, top1 = 0, top5 = 0, top10 = 0
        var start = 0
        while start < examples.count {
            let batch = examples[start..<min(start + batchImages, examples.count)]
            let logits = model.classify(try pixels(batch), probe: nil)
            let V = logits.shape[1]
            for (j, ex) in batch.enumerated() {
                // the same cross-entropy and rank kernel as text evaluation
                var rank = 0
                let l = sc_cross_entropy_rank(logits.pointer + j * V, V, ex.label, &rank)
                guard l.isFinite else {
                    throw ScalpelError.invalidData(
                        path: ex.path,
                        reason:
                            "the model's logits for this image are not finite (NaN or infinite weights or activations); nothing was scored")
                }
                loss += l
                if rank < 1 { top1 += 1 }
                if rank < 5 { top5 += 1 }
                if rank < 10 { top10 += 1 }
            }
            start += batch.count
            progress?(batch.count)
        }
        let n = Double(examples.count)
        return Metrics(
            loss: loss / n, perplexity: exp(loss / n), top1: Double(top1) / n, top10: Double(top10) / n,
            top1Skip50: Double(top1) / n, predictions: examples.count, top5: Double(top5) / n)
    }

    /// Statistics over every token (CLS and patches) of every image.
    public func collect(_ examples: [ImageExample], progress: ((Int) -> Void)? = nil) throws -> Statistics {
        let collector = StatisticsCollector(shape: model.shape)
        var start = 0
        while start < examples.count {
            let batch = examples[start..<min(start + batchImages, examples.count)]
            collector.rows = [0..<(batch.count * model.shape.maxPositions)]
            _ = model.classify(try pixels(batch), probe: collector)
            start += batch.count
            progress?(batch.count)
        }
        return collector.statistics
    }
}
