import Foundation
import ScalpelCore

/// How a neuron's importance to a data set is measured (METHOD.md §2–§3).
public enum ImportanceMetric: String, CaseIterable, Sendable, Codable {
    case freq, abs, sqrt, rms, std, mean, random

    /// Parses a command-line value, listing the choices when it is unknown.
    public init(argument: String, option: String) throws {
        guard let m = ImportanceMetric(rawValue: argument) else {
            throw ScalpelError.invalidArgument(
                "\(option): unknown metric '\(argument)' (choose from \(ImportanceMetric.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        self = m
    }

    /// The importance of each neuron under this metric (nil for `mean` and `random`, which score differently).
    func importance(_ s: NeuronSums) -> [Double]? {
        switch self {
        case .freq: return s.freq
        case .abs: return s.abs
        case .sqrt: return s.sqrt
        case .rms: return s.rms
        case .std: return s.std
        case .mean, .random: return nil
        }
    }
}

/// Scores of one kind of neuron, forget against retain (METHOD.md §3).
public enum Scores {
    /// `I_F / (I_R + eps)` for freq, abs, sqrt, rms and std; `|mean_F − mean_R|` for mean;
    /// for random, uniform noise in [0, 1) from a generator seeded by `seed` (and the kind, so
    /// FF and attention draws differ).
    public static func compute(
        _ metric: ImportanceMetric, forget: NeuronSums, retain: NeuronSums, eps: Double,
        seed: UInt64, step: Int, kind: NeuronKind
    ) -> [Double] {
        switch metric {
        case .mean:
            let f = forget.mean, r = retain.mean
            return zip(f, r).map { Swift.abs($0 - $1) }
        case .random:
            var g = SplitMix64(seed: seed &+ UInt64(step) &* 0x9E37_79B9 &+ (kind == .ff ? 0 : 0x5DEE_CE66))
            return (0..<forget.neuronCount).map { _ in g.nextUnit() }
        default:
            let f = metric.importance(forget)!, r = metric.importance(retain)!
            return zip(f, r).map { $0 / ($1 + eps) }
        }
    }
}

/// A small, fast, seedable generator (SplitMix64), so random baselines are reproducible.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
