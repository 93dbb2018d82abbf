import CKernels
import Foundation

/// A metadata value of a GGUF file.
public indirect enum GGUFValue {
    case int(Int), uint(UInt64), float(Double), bool(Bool), string(String), array([GGUFValue])

    public var int: Int? {
        switch self { case .int(let v): return v; case .uint(let v): return Int(exactly: v); default: return nil }
    }
    public var double: Double? {
        switch self { case .float(let v): return v; case .int(let v): return Double(v); case .uint(let v): return Double(v); default: return nil }
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
    static let typeNames: [Int: String] = [0: "F32", 1: "F16", 30: "BF16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0",
                                           10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K"]

    public init(path: String) throws {
        self.path = path
        let mapped = try MappedFile(path: path)
        file = mapped
        var metadata: [String: GGUFValue] = [:]
        var cursor = 0
        func bad(_ reason: String) -> ScalpelError { .invalidFile(path: path, reason: reason) }
        func need(_ n: Int) throws {
            guard n >= 0, cursor + n <= mapped.size else { throw bad("truncated GGUF header (needs \(cursor + n) bytes, file has \(mapped.size))") }
        }
        func u32() throws -> UInt32 { try need(4); defer { cursor += 4 }; return mapped.base.loadUnaligned(fromByteOffset: cursor, as: UInt32.self) }
        func u64() throws -> UInt64 { try need(8); defer { cursor += 8 }; return mapped.base.loadUnaligned(fromByteOffset: cursor, as: UInt64.self) }
        func string() throws -> String {
            let n = Int(try u64())
            guard n < 1 << 30 else { throw bad("corrupt GGUF string length \(n)") }
            try need(n)
            defer { cursor += n }
            return String(decoding: mapped.bytes(cursor, n), as: UTF8.self)
        }
        func value(_ type: UInt32) throws -> GGUFValue {
            switch type {
            case 0: try need(1); defer { cursor += 1 }; return .uint(UInt64(mapped.base.load(fromByteOffset: cursor, as: UInt8.self)))
            case 1: try need(1); defer { cursor += 1 }; return .int(Int(mapped.base.load(fromByteOffset: cursor, as: Int8.self)))
            case 2: try need(2); defer { cursor += 2 }; return .uint(UInt64(mapped.base.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
            case 3: try need(2); defer { cursor += 2 }; return .int(Int(mapped.base.loadUnaligned(fromByteOffset: cursor, as: Int16.self)))
            case 4: return .uint(UInt64(try u32()))
            case 5: return .int(Int(Int32(bitPattern: try u32())))
            case 6: return .float(Double(Float(bitPattern: try u32())))
            case 7: try need(1); defer { cursor += 1 }; return .bool(mapped.base.load(fromByteOffset: cursor, as: UInt8.self) != 0)
            case 8: return .string(try string())
            case 9:
                let elementType = try u32()
                let count = Int(try u64())
                guard count < 1 << 28 else { throw bad("corrupt GGUF array length \(count)") }
                var items: [GGUFValue] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try value(elementType)) }
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
        let tensorCount = Int(try u64()), kvCount = Int(try u64())
        guard tensorCount < 1 << 20, kvCount < 1 << 20 else { throw bad("corrupt GGUF header counts") }
        for _ in 0..<kvCount {
            let key = try string()
            metadata[key] = try value(try u32())
        }
        var infos: [(String, [Int], Int, Int)] = []
        for _ in 0..<tensorCount {
            let name = try string()
            let dims = Int(try u32())
            guard dims <= 8 else { throw bad("tensor '\(name)' has \(dims) dimensions") }
            var shape: [Int] = []
            for _ in 0..<dims { shape.append(Int(try u64())) }
            infos.append((name, shape.reversed(), Int(try u32()), Int(try u64())))
        }
        let alignment = metadata["general.alignment"]?.int ?? 32
        let dataOffset = (cursor + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        for (name, shape, type, offset) in infos {
            let count = shape.reduce(1, *)
            guard let block = GGUFFile.blocks[type] else {
                throw ScalpelError.unsupported(path: path, field: "tensor type of '\(name)'", value: GGUFFile.typeNames[type] ?? "\(type)",
                                               supported: ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"])
            }
            guard count % block.values == 0 else { throw bad("tensor '\(name)' size \(count) is not a multiple of its block size") }
            let bytes = count / block.values * block.bytes
            guard dataOffset + offset + bytes <= mapped.size else {
                throw bad("tensor '\(name)' lies outside the file (\(mapped.size) bytes); the file may be truncated")
            }
            tensors[name] = TensorInfo(name: name, shape: shape, type: type, offset: offset, byteCount: bytes)
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
