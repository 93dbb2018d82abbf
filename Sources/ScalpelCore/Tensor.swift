import CMatmul
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// How a tensor's elements are stored.
public enum DType: String, Sendable, Codable, CaseIterable {
    /// IEEE Float32: activations, norms, biases, and every weight unless `--dtype bf16`.
    case f32
    /// BFloat16 (the top half of a Float32): matmul weights and embeddings with `--dtype bf16`.
    case bf16

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 2 }
}

/// A dense row-major tensor on a flat buffer, of Float32 or (weights only) BF16 elements.
///
/// The buffer is either owned (allocated and freed by the tensor) or borrowed from a
/// memory-mapped file, which `owner` keeps alive. Mapped buffers are private
/// copy-on-write mappings, so writing into a tensor (pruning) never changes the file.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let dtype: DType
    /// The first element's bytes.
    public let raw: UnsafeMutableRawPointer
    private let owner: AnyObject?
    /// The anonymous mapping behind a large owned tensor (see `init(zeros:)`), else nil.
    private let mapping: (base: UnsafeMutableRawPointer, length: Int)?

    /// Owned tensors from this size up are anonymous mappings in 2 MiB pages.
    static let hugePageThreshold = 4 << 20
    static let hugePage = 2 << 20

    /// The Float32 elements; only for Float32 tensors (BF16 ones are read through `bf16`,
    /// `float(at:)` or `values`).
    public var pointer: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32, "Float32 access to a BF16 tensor \(shape)")
        return raw.assumingMemoryBound(to: Float.self)
    }

    /// The BF16 elements; only for BF16 tensors.
    public var bf16: UnsafeMutablePointer<UInt16> {
        precondition(dtype == .bf16, "BF16 access to a Float32 tensor \(shape)")
        return raw.assumingMemoryBound(to: UInt16.self)
    }

    /// A zero-filled tensor of the given shape.
    ///
    /// Tensors of 4 MiB and more (activations, converted weights) are fresh anonymous mappings,
    /// which the kernel hands out zeroed, aligned to and advised into 2 MiB pages: no zeroing pass,
    /// 512× fewer page faults, and strided walks (attention's q/k/v rows, the statistics probe's
    /// columns) stay within the TLB.
    public init(zeros shape: [Int], dtype: DType = .f32) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.dtype = dtype
        self.owner = nil
        let bytes = count * dtype.size
        if bytes >= Self.hugePageThreshold {
            let length = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage + Self.hugePage
            let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let base, base != MAP_FAILED,
                let start = UnsafeMutableRawPointer(
                    bitPattern: (Int(bitPattern: base) + Self.hugePage - 1) / Self.hugePage * Self.hugePage)
            {
                _ = madvise(start, length - (Int(bitPattern: start) - Int(bitPattern: base)), MADV_HUGEPAGE)
                self.raw = start
                self.mapping = (base, length)
                return
            }
        }
        self.mapping = nil
        self.raw = .allocate(byteCount: max(bytes, 4), alignment: 64)
        self.raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 4))
    }

    /// A Float32 tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor viewing memory owned by `owner` (a mapping, or another tensor); it keeps `owner` alive.
    public init(shape: [Int], dtype: DType = .f32, borrowing raw: UnsafeMutableRawPointer, owner: AnyObject) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.dtype = dtype
        self.raw = raw
        self.owner = owner
        self.mapping = nil
    }

    /// A Float32 tensor viewing memory owned by `owner`.
    public convenience init(shape: [Int], borrowing pointer: UnsafeMutablePointer<Float>, owner: AnyObject) {
        self.init(shape: shape, dtype: .f32, borrowing: UnsafeMutableRawPointer(pointer), owner: owner)
    }

    deinit {
        if let mapping {
            munmap(mapping.base, mapping.length)
        } else if owner == nil {
            raw.deallocate()
        }
    }

    /// The values as Float32 (a copy; BF16 widened exactly).
    public var values: [Float] { (0..<count).map { float(at: $0) } }

    /// Element `index` as Float32.
    @inline(__always)
    public func float(at index: Int) -> Float {
        dtype == .f32
            ? raw.assumingMemoryBound(to: Float.self)[index]
            : Float(bitPattern: UInt32(raw.assumingMemoryBound(to: UInt16.self)[index]) << 16)
    }

    /// Stores `value` at `index`, rounded to nearest even when the tensor is BF16.
    @inline(__always)
    public func set(_ value: Float, at index: Int) {
        if dtype == .f32 {
            raw.assumingMemoryBound(to: Float.self)[index] = value
        } else {
            var v = value
            sc_f32_to_bf16(&v, raw.assumingMemoryBound(to: UInt16.self) + index, 1)
        }
    }

    /// Element access for tests and small tensors (Float32 values, either dtype).
    public subscript(_ index: Int) -> Float {
        get { float(at: index) }
        set { set(newValue, at: index) }
    }

    /// This tensor in `dtype`: itself when it already is, else a converted copy (Float32 → BF16
    /// rounds to nearest even, as PyTorch does).
    public func converted(to dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let t = Tensor(zeros: shape, dtype: dtype)
        if dtype == .bf16 {
            sc_f32_to_bf16(pointer, t.bf16, count)
        } else {
            sc_bf16_to_f32(bf16, t.pointer, count)
        }
        return t
    }
}

/// A reusable scratch buffer that grows to the largest size requested.
public final class Scratch: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        self.pointer = .allocate(capacity: self.capacity)
    }

    /// A pointer to at least `count` floats (contents undefined after growth).
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }

    deinit { pointer.deallocate() }
}

extension Tensor {
    /// A new [cols, rows] tensor holding the transpose of this [rows, cols] one (same dtype).
    public func transposed() -> Tensor {
        precondition(shape.count == 2, "transposed() needs a 2-D tensor, got \(shape)")
        let rows = shape[0], cols = shape[1], size = dtype.size
        let t = Tensor(zeros: [cols, rows], dtype: dtype)
        for r in 0..<rows {
            for c in 0..<cols { (t.raw + (c * rows + r) * size).copyMemory(from: raw + (r * cols + c) * size, byteCount: size) }
        }
        return t
    }

    /// Rows [start, start + count) of this [rows, …] tensor as a new tensor (same dtype).
    public func rows(_ start: Int, _ count: Int) -> Tensor {
        let width = shape.count > 1 ? shape[1...].reduce(1, *) : 1
        let t = Tensor(zeros: [count] + shape.dropFirst(), dtype: dtype)
        t.raw.copyMemory(from: raw + start * width * dtype.size, byteCount: count * width * dtype.size)
        return t
    }
}
