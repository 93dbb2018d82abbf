import CKernels
import CMatmul
import Foundation
import ScalpelCore

/// A linear layer `y = x·Wᵀ + b` with PyTorch's weight layout [out, in].
public struct Linear {
    public let weight: Tensor
    public let bias: Tensor?
    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }

    public init(weight: Tensor, bias: Tensor? = nil) { self.weight = weight; self.bias = bias }

    // x: [rows, in] → y: [rows, out]
    public func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        BLAS.linear(x, rows: rows, weight: weight, bias: bias?.pointer, into: y)
    }

    /// Linears stacked along their outputs ([Σ out, in], the parts' dtype), for one fused matmul.
    public static func stacked(_ parts: [Linear]) -> Linear {
        let inF = parts[0].inFeatures, dtype = parts[0].weight.dtype
        let outF = parts.reduce(0) { $0 + $1.outFeatures }
        let w = Tensor(zeros: [outF, inF], dtype: dtype)
        var row = 0
        for p in parts {
            precondition(p.weight.dtype == dtype, "stacked Linears of different dtypes")
            (w.raw + row * inF * dtype.size).copyMemory(from: p.weight.raw, byteCount: p.weight.count * dtype.size)
            row += p.outFeatures
        }
        var bias: Tensor? = nil
        if parts.contains(where: { $0.bias != nil }) {
            let b = Tensor(zeros: [outF])
            var o = 0
            for p in parts {
                if let pb = p.bias { (b.pointer + o).update(from: pb.pointer, count: p.outFeatures) }
                o += p.outFeatures
            }
            bias = b
        }
        return Linear(weight: w, bias: bias)
    }

    /// Rows [start, start + count) of the weight (and bias) as their own tensors, for export.
    public func slice(rows start: Int, count: Int) -> (weight: Tensor, bias: Tensor?) {
        (weight.rows(start, count), bias.map { $0.rows(start, count) })
    }
}

/// Layer normalisation or RMS normalisation over the last dimension.
public enum Norm {
    case layer(weight: Tensor?, bias: Tensor?, eps: Float)
    case rms(weight: Tensor, eps: Float)

    // x: [rows, dim] → y: [rows, dim] (may alias); rows in blocks of 64 across workers
    // (each row is normalised on its own, so the result does not depend on the split)
    public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        let xp = SendablePointer(UnsafeMutablePointer(mutating: x)), yp = SendablePointer(y)
        let block = 64
        Parallel.forEach((rows + block - 1) / block) { b, _ in
            let r0 = b * block, n = Swift.min(block, rows - r0)
            let x = xp.pointer + r0 * dim, y = yp.pointer + r0 * dim
            switch self {
            case .layer(let w, let bias, let eps): sc_layer_norm(x, y, w?.pointer, bias?.pointer, n, dim, eps)
            case .rms(let w, let eps): sc_rms_norm(x, y, w.pointer, n, dim, eps)
            }
        }
    }

    /// The norm's tensors under `name` (`name.weight`, `name.bias`).
    public func tensors(_ name: String) -> [(name: String, tensor: Tensor)] {
        switch self {
        case .layer(let w, let b, _):
            return (w.map { [(name + ".weight", $0)] } ?? []) + (b.map { [(name + ".bias", $0)] } ?? [])
        case .rms(let w, _):
            return [(name + ".weight", w)]
        }
    }
}

/// Rotary position embedding (RoPE, GPT-NeoX's rotate-half layout) over the first `dimensions`
/// of each query and key head, with inverse frequencies from `rope_theta` and `rope_scaling`.
public struct Rotary {
    public let dimensions: Int
    public let inverseFrequencies: [Float]

    /// Reads theta, the rotary fraction and the scaling from a config in either the current
    /// (`rope_parameters`) or the earlier (`rope_theta`, `rope_scaling`, `rotary_pct`,
    /// `rotary_emb_base`) form. Unsupported scaling types are an error naming the field.
    public init(config: [String: Any], headWidth: Int, defaultFraction: Double, path: String) throws {
        let params = config["rope_parameters"] as? [String: Any] ?? [:]
        let scaling = config["rope_scaling"] as? [String: Any] ?? params
        func number(_ key: String, in dict: [String: Any]) -> Double? { (dict[key] as? NSNumber)?.doubleValue }
        let theta = number("rope_theta", in: params) ?? number("rope_theta", in: config) ?? number("rotary_emb_base", in: config) ?? 10000
        let fraction =
            number("partial_rotary_factor", in: params) ?? number("rotary_pct", in: config)
            ?? number("partial_rotary_factor", in: config) ?? defaultFraction
        let dim = Int(Double(headWidth) * fraction)
        dimensions = dim
        // inv_freq_i = 1 / theta^(2i / dim), in float32 as transformers computes it
        var inv = (0..<(dim / 2)).map { i in Float(1.0 / pow(theta, Double(Float(2 * i) / Float(dim)))) }
        let type = (scaling["rope_type"] as? String) ?? (scaling["type"] as? String) ?? "default"
        switch type {
        case "default":
            break
        case "dynamic":
            break  // identical to default within the position limit, which Scalpel never exceeds
        case "linear":
            let factor = Float(number("factor", in: scaling) ?? 1)
            inv = inv.map { $0 / factor }
        case "llama3":
            let factor = number("factor", in: scaling) ?? 8
            let low = number("low_freq_factor", in: scaling) ?? 1
            let high = number("high_freq_factor", in: scaling) ?? 4
            let original = number("original_max_position_embeddings", in: scaling) ?? 8192
            let lowWavelength = original / low, highWavelength = original / high
            inv = inv.map { f in
                let freq = Double(f)
                let wavelength = 2 * Double.pi / freq
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return Float(freq / factor) }
                let smooth = (original / wavelength - low) / (high - low)
                return Float((1 - smooth) * freq / factor + smooth * freq)
            }
        default:
            throw ScalpelError.unsupported(
                path: path, field: "rope_scaling type", value: type, supported: ["default", "linear", "dynamic", "llama3"])
        }
        inverseFrequencies = inv
    }

    /// cos and sin tables [positions, dimensions / 2].
    public func tables(positions: Int) -> (cos: [Float], sin: [Float]) {
        let half = dimensions / 2
        var c = [Float](repeating: 0, count: positions * half), s = c
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Float(p) * inverseFrequencies[i]
                c[p * half + i] = Float(cos(Double(angle)))
                s[p * half + i] = Float(sin(Double(angle)))
            }
        }
        return (c, s)
    }
}

/// Token embedding lookups.
enum Embedding {
    /// table: [V, d] (Float32 or BF16) → x: [Σ T, d] Float32, one row per token of the packed sequences.
    static func gather(_ table: Tensor, _ sequences: [[Int]]) -> Tensor {
        let d = table.shape[1]
        let n = sequences.reduce(0) { $0 + $1.count }
        let x = Tensor(zeros: [n, d])
        var r = 0
        for seq in sequences {
            for id in seq { row(table, id, into: x.pointer + r * d); r += 1 }
        }
        return x
    }

    /// Row `id` of table: [V, d] as Float32 into `out`: [d].
    static func row(_ table: Tensor, _ id: Int, into out: UnsafeMutablePointer<Float>) {
        let d = table.shape[1]
        if table.dtype == .f32 {
            out.update(from: table.pointer + id * d, count: d)
        } else {
            sc_bf16_to_f32(table.bf16 + id * d, out, d)
        }
    }
}
