import CKernels
import ScalpelCore

/// The MLP activation functions of Hugging Face configs (`ACT2FN` names).
public enum Activation: String, Sendable {
    case relu, gelu, geluNew = "gelu_new", geluTanh = "gelu_pytorch_tanh", silu, swish

    public static let supportedNames = ["relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "silu", "swish"]

    /// Parses a config value; throws naming the file and field otherwise.
    public init(name: String, field: String, path: String) throws {
        guard let a = Activation(rawValue: name) else {
            throw ScalpelError.unsupported(path: path, field: field, value: name, supported: Activation.supportedNames)
        }
        self = a
    }

    /// x: [n] in place.
    public func apply(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .relu: sc_relu(x, n)
        case .gelu: sc_gelu(x, n)
        case .geluNew, .geluTanh: sc_gelu_tanh(x, n)
        case .silu, .swish: sc_silu(x, n)
        }
    }
}
