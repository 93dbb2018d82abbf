import Testing
@testable import ScalpelCore

@Suite("Tensors")
struct TensorTests {
    @Test(
        "tensors of every size start zeroed, hold what is written, and large ones sit on 2 MiB boundaries",
        arguments: [[3], [1000, 1000], [1025, 1024], [4096, 3072]])
    func zeros(shape: [Int]) {
        for _ in 0..<2 {  // a second round reuses freed memory
            let t = Tensor(zeros: shape)
            #expect(t.count == shape.reduce(1, *))
            var nonZero = 0
            for i in stride(from: 0, to: t.count, by: 997) where t[i] != 0 { nonZero += 1 }
            #expect(nonZero == 0 && t[t.count - 1] == 0)
            if t.count * 4 >= Tensor.hugePageThreshold {
                #expect(Int(bitPattern: t.pointer) % Tensor.hugePage == 0)
            }
            t.pointer.update(repeating: 1.5, count: t.count)
            #expect(t[0] == 1.5 && t[t.count - 1] == 1.5)
        }
    }
}
