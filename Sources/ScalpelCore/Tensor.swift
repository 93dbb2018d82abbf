import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// A dense row-major Float32 tensor on a flat buffer.
///
/// The buffer is either owned (allocated and freed by the tensor) or borrowed from a
/// memory-mapped file, which `owner` keeps alive. Mapped buffers are private
/// copy-on-write mappings, so writing into a tensor (pruning) never changes the file.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let owner: AnyObject?
    /// The anonymous mapping behind a large owned tensor (see `init(zeros:)`), else nil.
    private let mapping: (base: UnsafeMutableRawPointer, length: Int)?

    /// Owned tensors from this size up are anonymous mappings in 2 MiB pages.
    static let hugePageThreshold = 4 << 20
    static let hugePage = 2 << 20

    /// A zero-filled tensor of the given shape.
    ///
    /// Tensors of 4 MiB and more (activations, converted weights) are fresh anonymous mappings,
    /// which the kernel hands out zeroed, aligned to and advised into 2 MiB pages: no zeroing pass,
    /// 512× fewer page faults, and strided walks (attention's q/k/v rows, the statistics probe's
    /// columns) stay within the TLB.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.owner = nil
        let bytes = count * MemoryLayout<Float>.stride
        if bytes >= Self.hugePageThreshold {
            let length = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage + Self.hugePage
            let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let base, base != MAP_FAILED {
                let aligned = (Int(bitPattern: base) + Self.hugePage - 1) / Self.hugePage * Self.hugePage
                let start = UnsafeMutableRawPointer(bitPattern: aligned)!
                _ = madvise(start, length - (aligned - Int(bitPattern: base)), MADV_HUGEPAGE)
                self.pointer = start.bindMemory(to: Float.self, capacity: count)
                self.mapping = (base, length)
                return
            }
        }
        self.mapping = nil
        self.pointer = .allocate(capacity: max(count, 1))
        self.pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor viewing memory owned by `owner` (a mapping); the tensor keeps `owner` alive.
    public init(shape: [Int], borrowing pointer: UnsafeMutablePointer<Float>, owner: AnyObject) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.pointer = pointer
        self.owner = owner
        self.mapping = nil
    }

    deinit {
        if let mapping {
            munmap(mapping.base, mapping.length)
        } else if owner == nil {
            pointer.deallocate()
        }
    }

    /// The values as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Element access for tests and small tensors.
    public subscript(_ index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
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
    /// A new [cols, rows] tensor holding the transpose of this [rows, cols] one.
    public func transposed() -> Tensor {
        precondition(shape.count == 2, "transposed() needs a 2-D tensor, got \(shape)")
        let rows = shape[0], cols = shape[1]
        let t = Tensor(zeros: [cols, rows])
        for r in 0..<rows { for c in 0..<cols { t.pointer[c * rows + r] = pointer[r * cols + c] } }
        return t
    }
}
