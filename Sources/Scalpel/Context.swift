import ScalpelCore
import ScalpelModels

/// The window length rule of METHOD.md §6.
public enum ContextLength {
    /// `requested`, or min(1024, the model's position limit); never above that limit.
    public static func resolve(_ requested: Int?, shape: ModelShape) throws -> Int {
        guard let requested else { return min(1024, shape.maxPositions) }
        guard requested >= 2 else { throw ScalpelError.invalidArgument("--context must be at least 2 (got \(requested))") }
        guard requested <= shape.maxPositions else {
            throw ScalpelError.invalidArgument("--context \(requested) exceeds the model's position limit \(shape.maxPositions)")
        }
        return requested
    }
}
