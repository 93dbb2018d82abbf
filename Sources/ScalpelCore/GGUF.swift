import CKernels
import Foundation

/// A metadata value of a GGUF file.
public indirect enum GGUFValue {
    case int(Int), uint(UInt64), float(Double), bool(Bool), string(String), array([GGUFValue])

    public var int: Int? {
        switch self {
        case .int(let v): return v;
        case .uint(let v): return Int(exactly: v);
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let v): return v;
        case .int(let v): return Double(v);
        case .uint(let v): return Double(v);
        default: return nil
        }
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
}

/// A GGUF file (llama.cpp's format, versions 2 and 3), memory-mapped: metadata, the tensor
/// table and the aligned data section. Tensors dequantize to Float32 (F32, F16, BF16, Q4_0,
/// Q4_1, Q8_0, Q4_K, Q5_K, Q6_K) in PyTorch's dimension order (GGUF lists dimensions fastest first).
public final class GGUFFile: @unchecked Sendable {
    public struct TensorInfo {
        public let name: String
        /// PyTorch order (slowest first).
        public let shape: [Int]
        public let type: Int
        public let offset: Int
        public let byteCount: Int
    }

    public let path: String
    public let version: Int
    public private(set) var metadata: [String: GGUFValue] = [:]
    public private(set) var tensors: [String: TensorInfo] = [:]
    private let file: MappedFile
    private var dataOffset = 0

    /// (values per block, bytes per block) of each supported type.
    static let blocks: [Int: (values: Int, bytes: Int)] = [
        0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    ]
    static let typeNames: [Int: String] = [
        0: "F32", 1: "F16", 30: "BF16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0",
        10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K",
    ]

    public init(path: String) throws {
        self.path = path
        let mapped = try MappedFile(path: path)
        file = mapped
        var metadata: [String: GGUFValue] = [:]
        var cursor = 0
        func bad(_ reason: String) -> ScalpelError { .invalidFile(path: path, reason: reason) }
        func need(_ n: Int) throws {
            guard n >= 0, cursor + n <= mapped.size else {
                throw bad("truncated GGUF header (needs \(cursor + n) bytes, file has \(mapped.size))")
            }
        }
        func u32() throws -> UInt32 {
            try need(4); defer { cursor += 4 }; return mapped.base.loadUnaligned(fromByteOffset: cursor, as: UInt32.self)
        }
        func u64() throws -> UInt64 {
            try need(8); defer { cursor += 8 }; return mapped.base.loadUnaligned(fromByteOffset: cursor, as: UInt64.self)
        }
        /// A u64 count or size that must fit in `limit`.
        func size(_ what: String, limit: Int) throws -> Int {
            let v = try u64()
            guard v <= UInt64(limit) else { throw bad("corrupt GGUF header: \(what) \(v) is larger than \(limit)") }
            return Int(v)
        }
        func string() throws -> String {
            let n = try size("string length", limit: mapped.size - cursor)
            try need(n)
            defer { cursor += n }
            return String(decoding: mapped.bytes(cursor, n), as: UTF8.self)
        }
        func value(_ type: UInt32, depth: Int = 0) throws -> GGUFValue {
            switch type {
            case 0: try need(1); defer { cursor += 1 }; return .uint(UInt64(mapped.base.load(fromByteOffset: cursor, as: UInt8.self)))
            case 1: try need(1); defer { cursor += 1 }; return .int(Int(mapped.base.load(fromByteOffset: cursor, as: Int8.self)))
            case 2:
                try need(2); defer { cursor += 2 }; return .uint(UInt64(mapped.base.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
            case 3: try need(2); defer { cursor += 2 }; return .int(Int(mapped.base.loadUnaligned(fromByteOffset: cursor, as: Int16.self)))
            case 4: return .uint(UInt64(try u32()))
            case 5: return .int(Int(Int32(bitPattern: try u32())))
            case 6: return .float(Double(Float(bitPattern: try u32())))
            case 7: try need(1); defer { cursor += 1 }; return .bool(mapped.base.load(fromByteOffset: cursor, as: UInt8.self) != 0)
            case 8: return .string(try string())
            case 9:
                guard depth < 2 else { throw bad("corrupt GGUF metadata: arrays nested more than two deep") }
                let elementType = try u32()
                // every element takes at least one byte: a count beyond the bytes left is corrupt
                let count = try size("array length", limit: mapped.size - cursor)
                var items: [GGUFValue] = []
                items.reserveCapacity(Swift.min(count, 1 << 16))
                for _ in 0..<count { items.append(try value(elementType, depth: depth + 1)) }
                return .array(items)
            case 10: return .uint(try u64())
            case 11: return .int(Int(Int64(bitPattern: try u64())))
            case 12: return .float(Double(bitPattern: try u64()))
            default: throw bad("unknown GGUF metadata type \(type)")
            }
        }
        guard mapped.size >= 24, try u32() == 0x4655_4747 else { throw bad("not a GGUF file (no GGUF magic)") }
        let v = Int(try u32())
        guard v == 2 || v == 3 else {
            throw ScalpelError.unsupported(path: path, field: "GGUF version", value: "\(v)", supported: ["2", "3"])
        }
        version = v
        defer { self.metadata = metadata }
        // a tensor entry takes at least 24 bytes and a key-value pair at least 13
        let tensorCount = try size("tensor count", limit: Swift.min(1 << 20, mapped.size / 24))
        let kvCount = try size("metadata count", limit: Swift.min(1 << 20, mapped.size / 13))
        for _ in 0..<kvCount {
            let key = try string()
            let type = try u32()
            guard metadata[key] == nil else { throw bad("corrupt GGUF metadata: key '\(key)' appears twice") }
            metadata[key] = try value(type)
        }
        var infos: [(String, [Int], Int, Int)] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try string()
            guard names.insert(name).inserted else { throw bad("corrupt GGUF tensor table: tensor '\(name)' appears twice") }
            let dims = Int(try u32())
            guard (1...4).contains(dims) else { throw bad("tensor '\(name)' has \(dims) dimensions (GGUF allows 1 to 4)") }
            var shape: [Int] = []
            for _ in 0..<dims { shape.append(try size("dimension of '\(name)'", limit: Int(Int32.max))) }
            let type = Int(try u32())
            let offset = try size("offset of '\(name)'", limit: mapped.size)
            infos.append((name, shape.reversed(), type, offset))
        }
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard case .uint(let value) = a, value > 0, value <= 1 << 16, value & (value - 1) == 0 else {
                throw bad("general.alignment must be a power of two up to 65536")
            }
            alignment = Int(value)
        }
        let dataOffset = (cursor + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        // as ggml requires: tensors in table order, each at the aligned end of the one before
        var expectedOffset = 0
        for (name, shape, type, offset) in infos {
            guard let block = GGUFFile.blocks[type] else {
                throw ScalpelError.unsupported(
                    path: path, field: "tensor type of '\(name)'", value: GGUFFile.typeNames[type] ?? "\(type)",
                    supported: ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"])
            }
            guard shape.allSatisfy({ $0 > 0 }), let count = CheckedSize.product(shape, limit: mapped.size * 32) else {
                throw bad("tensor '\(name)' has an impossible shape \(shape) for a file of \(mapped.size) bytes")
            }
            guard shape.last! % block.values == 0 else {
                throw bad("tensor '\(name)' row length \(shape.last!) is not a multiple of its block size \(block.values)")
            }
            let bytes = count / block.values * block.bytes
            guard offset == expectedOffset else {
                throw bad(
                    offset % alignment != 0
                        ? "tensor '\(name)' offset \(offset) is not aligned to \(alignment) bytes"
                        : "tensor '\(name)' is at offset \(offset), expected \(expectedOffset) (tensors must follow one another without overlap)"
                )
            }
            guard let end = CheckedSize.add(dataOffset + offset, bytes), end <= mapped.size else {
                throw bad("tensor '\(name)' lies outside the file (\(mapped.size) bytes); the file may be truncated")
            }
            tensors[name] = TensorInfo(name: name, shape: shape, type: type, offset: offset, byteCount: bytes)
            expectedOffset = (offset + bytes + alignment - 1) / alignment * alignment
        }
    }

    /// The tensor dequantized to Float32.
    public func floatTensor(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw ScalpelError.missingTensor(path: path, name: name) }
        let t = Tensor(zeros: info.shape)
        let src = file.bytes(dataOffset + info.offset, info.byteCount).baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard sc_dequantize(Int32(info.type), src, t.pointer, t.count) == 0 else {
            throw ScalpelError.unsupported(path: path, field: "tensor type", value: "\(info.type)", supported: [])
        }
        return t
    }
}
