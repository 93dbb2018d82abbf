import Foundation

/// Element types of the safetensors format that Scalpel reads or writes (`DType` is what a tensor holds in memory).
public enum StoredType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable {
    public let name: String
    public let dtype: StoredType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let start: Int, end: Int
}

/// A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header,
/// then the data section. Every field is validated; errors name the file.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataOffset: Int

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        func bad(_ reason: String) -> ScalpelError { .invalidFile(path: path, reason: reason) }
        guard file.size >= 8 else { throw bad("not a safetensors file: \(file.size) bytes, too short for a header") }
        var headerLength: UInt64 = 0
        memcpy(&headerLength, file.base, 8)
        headerLength = UInt64(littleEndian: headerLength)
        // the reference implementation's limit: a header of at most 100 MB
        guard headerLength <= 100_000_000, headerLength <= UInt64(file.size - 8) else {
            throw bad(
                "corrupt safetensors header: header length \(headerLength) exceeds file size \(file.size) (or the format's 100 MB limit)")
        }
        dataOffset = 8 + Int(headerLength)
        let headerData = Data(file.bytes(8, Int(headerLength)))
        guard let object = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw bad("corrupt safetensors header: not a JSON object")
        }
        if let keys = JSONKeys.topLevel(headerData), let dup = JSONKeys.firstDuplicate(keys) {
            throw bad("corrupt safetensors header: tensor '\(dup)' is listed twice")
        }
        let dataSize = file.size - dataOffset
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let entries = value as? [String: Any] else { throw bad("corrupt safetensors header: __metadata__ is not an object") }
                for (k, v) in entries {
                    guard let text = v as? String else {
                        throw bad("corrupt safetensors header: __metadata__ value '\(k)' is not a string")
                    }
                    metadata[k] = text
                }
                continue
            }
            guard let entry = value as? [String: Any],
                let dtypeName = entry["dtype"] as? String,
                let shapeAny = entry["shape"] as? [Any],
                let offsets = entry["data_offsets"] as? [Any], offsets.count == 2
            else {
                throw bad("corrupt safetensors header: entry '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = StoredType(rawValue: dtypeName) else {
                throw bad("tensor '\(name)' has unsupported dtype \(dtypeName)")
            }
            func integers(_ values: [Any]) -> [Int]? {
                let out = values.compactMap { v -> Int? in
                    guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
                    let d = n.doubleValue
                    guard d >= 0, d == d.rounded(), d < 9.0e15 else { return nil }
                    return Int(exactly: d)
                }
                return out.count == values.count ? out : nil
            }
            guard let shape = integers(shapeAny), let range = integers(offsets) else {
                throw bad("corrupt safetensors header: entry '\(name)' has a shape or offsets that are not non-negative integers")
            }
            guard let expected = CheckedSize.product(shape + [dtype.size], limit: Int(Int32.max) * 64) else {
                throw bad("tensor '\(name)' has an impossible shape \(shape)")
            }
            guard range[1] >= range[0], range[1] <= dataSize else {
                throw bad(
                    "tensor '\(name)' data range \(range) lies outside the data section (\(dataSize) bytes); the file may be truncated")
            }
            guard range[1] - range[0] == expected else {
                throw bad("tensor '\(name)' holds \(range[1] - range[0]) bytes, but \(dtype.rawValue) \(shape) needs \(expected)")
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, start: range[0], end: range[1])
        }
        // the format's rule: tensors tile the data section, in some order, without gaps or overlap
        var end = 0
        for t in tensors.values.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
            guard t.start == end else {
                throw bad(
                    t.start < end
                        ? "tensor '\(t.name)' overlaps another tensor's bytes (starts at \(t.start), before \(end))"
                        : "tensor data has a gap before tensor '\(t.name)' (bytes \(end)..<\(t.start) belong to no tensor)")
            }
            end = t.end
        }
        guard end == dataSize else {
            throw bad("the data section has \(dataSize) bytes but its tensors cover \(end); the file is truncated or has trailing bytes")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The data section: every tensor's bytes, as stored.
    public var dataSection: UnsafeRawBufferPointer { file.bytes(dataOffset, file.size - dataOffset) }

    /// Raw bytes of a tensor.
    public func rawBytes(_ info: TensorInfo) -> UnsafeRawBufferPointer {
        file.bytes(dataOffset + info.start, info.end - info.start)
    }

    /// The tensor converted to Float32. F32 data aligned to 4 bytes is borrowed from the
    /// mapping (copy-on-write); everything else is converted into a new buffer.
    public func floatTensor(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw ScalpelError.missingTensor(path: path, name: name) }
        let raw = rawBytes(info)
        let n = info.shape.reduce(1, *)
        if info.dtype == .f32, Int(bitPattern: raw.baseAddress) % 4 == 0, n > 0 {
            let p = UnsafeMutableRawPointer(mutating: raw.baseAddress!).assumingMemoryBound(to: Float.self)
            return Tensor(shape: info.shape, borrowing: p, owner: file)
        }
        let t = Tensor(zeros: info.shape)
        let out = t.pointer
        switch info.dtype {
        case .f32:
            memcpy(out, raw.baseAddress!, n * 4)
        case .f16:
            for i in 0..<n { out[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
        case .f64:
            for i in 0..<n { out[i] = Float(raw.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        default:
            throw ScalpelError.invalidFile(
                path: path, reason: "tensor '\(name)' has dtype \(info.dtype.rawValue), expected a floating-point type")
        }
        return t
    }

    /// Gives back the memory of a tensor's bytes in the mapping (after converting it into a copy).
    public func release(_ name: String) {
        guard let info = tensors[name] else { return }
        file.release(dataOffset + info.start, info.end - info.start)
    }

    /// A BF16 tensor stored as BF16 and 2-byte aligned, borrowed from the mapping without a copy
    /// (copy-on-write), else nil.
    public func borrowedBF16(_ name: String) -> Tensor? {
        guard let info = tensors[name], info.dtype == .bf16 else { return nil }
        let raw = rawBytes(info)
        guard let base = raw.baseAddress, Int(bitPattern: base) % 2 == 0, info.shape.reduce(1, *) > 0 else { return nil }
        return Tensor(shape: info.shape, dtype: .bf16, borrowing: UnsafeMutableRawPointer(mutating: base), owner: file)
    }

    /// The tensor's integer values (I64, I32, I16, I8, U8, BOOL).
    public func intValues(_ name: String) throws -> [Int] {
        guard let info = tensors[name] else { throw ScalpelError.missingTensor(path: path, name: name) }
        let raw = rawBytes(info)
        let n = info.shape.reduce(1, *)
        switch info.dtype {
        case .i64: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        case .i32: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i16: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        case .i8: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
        default:
            throw ScalpelError.invalidFile(
                path: path, reason: "tensor '\(name)' has dtype \(info.dtype.rawValue), expected an integer type")
        }
    }
}

/// A tensor to be written: name, dtype, shape and little-endian bytes.
public struct TensorRecord {
    public let name: String
    public let dtype: StoredType
    public let shape: [Int]
    public let bytes: Data

    public init(name: String, dtype: StoredType, shape: [Int], bytes: Data) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
    }

    /// A Float32 tensor.
    public init(name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        self.init(name: name, dtype: .f32, shape: shape, bytes: Data(buffer: floats))
    }
    public init(name: String, shape: [Int], floats: [Float]) {
        self = floats.withUnsafeBufferPointer { TensorRecord(name: name, shape: shape, floats: $0) }
    }
    public init(name: String, shape: [Int], doubles: [Double]) {
        self.init(name: name, dtype: .f64, shape: shape, bytes: doubles.withUnsafeBufferPointer { Data(buffer: $0) })
    }
    public init(name: String, shape: [Int], int32s: [Int32]) {
        self.init(name: name, dtype: .i32, shape: shape, bytes: int32s.withUnsafeBufferPointer { Data(buffer: $0) })
    }
    public init(name: String, shape: [Int], uint8s: [UInt8]) {
        self.init(name: name, dtype: .u8, shape: shape, bytes: Data(uint8s))
    }
}

public enum SafetensorsWriter {
    /// The 8-byte length and the JSON header, padded with spaces to 8 bytes, for tensors laid out
    /// one after another in the given order.
    static func header(_ entries: [(name: String, dtype: StoredType, shape: [Int], bytes: Int)], metadata: [String: String]) -> Data {
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for e in entries {
            let shape = e.shape.map(String.init).joined(separator: ",")
            parts.append(
                "\(jsonString(e.name)):{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + e.bytes)]}"
            )
            offset += e.bytes
        }
        var json = Data(("{" + parts.joined(separator: ",") + "}").utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        return out
    }

    /// The file's bytes: tensors in name order.
    public static func encode(_ records: [TensorRecord], metadata: [String: String] = [:]) -> Data {
        let sorted = records.sorted { $0.name < $1.name }
        var out = header(sorted.map { ($0.name, $0.dtype, $0.shape, $0.bytes.count) }, metadata: metadata)
        for r in sorted { out.append(r.bytes) }
        return out
    }

    /// Writes the records to `path` atomically.
    public static func write(_ records: [TensorRecord], metadata: [String: String] = [:], to path: String) throws {
        try writeAtomically(encode(records, metadata: metadata), to: path)
    }

    /// Writes tensors straight from their buffers, each in its dtype (F32 or BF16; the file is
    /// never assembled in memory), in name order, to a temporary file beside `path`, then renames it into place.
    public static func write(floatTensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        let sorted = floatTensors.sorted { $0.name < $1.name }
        let head = header(
            sorted.map { ($0.name, $0.tensor.dtype == .bf16 ? .bf16 : .f32, $0.tensor.shape, $0.tensor.dtype.size * $0.tensor.count) },
            metadata: metadata)
        let file = try AtomicFile(path: path)
        try file.write(head)
        for t in sorted { try file.write(UnsafeRawPointer(t.tensor.raw), count: t.tensor.dtype.size * t.tensor.count) }
        try file.commit()
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
