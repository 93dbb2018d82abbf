// swift-tools-version:6.0
import PackageDescription

/// Hot C kernels are compiled optimised even in debug builds, so the test suite
/// (which runs real forward passes) stays fast.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-mavx2", "-mfma", "-mf16c", "-fno-math-errno"])]

let package = Package(
    name: "Scalpel",
    products: [
        .library(name: "Scalpel", targets: ["Scalpel"]),
        .executable(name: "scalpel", targets: ["scalpel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "CKernels", cSettings: kernelFlags),
        .target(name: "CImage", cSettings: kernelFlags, linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]),
        // BF16 conversions and matmuls: oneDNN (Debian: libdnnl-dev) where the CPU has BF16 instructions
        .target(
            name: "CMatmul", dependencies: ["COpenBLAS"], cSettings: kernelFlags,
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "ScalpelCore", dependencies: ["COpenBLAS", "CKernels", "CMatmul"]),
        // ICU's regular expressions with a work limit, for tokenizers' Split patterns (Debian: libicu-dev)
        .target(name: "CRegex", linkerSettings: [.linkedLibrary("icui18n"), .linkedLibrary("icuuc")]),
        .target(name: "ScalpelTokenizers", dependencies: ["ScalpelCore", "CRegex"]),
        // Hugging Face Hub ids: the huggingface_hub cache, and fetching into it (Foundation's URLSession)
        .target(name: "ScalpelHub", dependencies: ["ScalpelCore"]),
        .target(name: "ScalpelModels", dependencies: ["ScalpelCore", "ScalpelTokenizers", "CKernels", "CImage"]),
        .target(name: "Scalpel", dependencies: ["ScalpelCore", "ScalpelTokenizers", "ScalpelModels", "CKernels"]),
        .executableTarget(
            name: "scalpel",
            dependencies: ["Scalpel", "ScalpelHub", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ScalpelCoreTests", dependencies: ["ScalpelCore", "TestSupport"]),
        .testTarget(name: "ScalpelTokenizersTests", dependencies: ["ScalpelTokenizers", "TestSupport"]),
        .testTarget(name: "ScalpelModelsTests", dependencies: ["ScalpelModels", "TestSupport"]),
        .testTarget(name: "ScalpelTests", dependencies: ["Scalpel", "TestSupport"]),
        .testTarget(name: "ScalpelHubTests", dependencies: ["ScalpelHub", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)

// Fuzzing (Tools/checks/fuzz.sh): SCALPEL_FUZZ=1 adds the libFuzzer binary, built with -sanitize=fuzzer,address.
if Context.environment["SCALPEL_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "scalpel-fuzz", dependencies: ["Scalpel", "ScalpelModels", "ScalpelTokenizers", "ScalpelCore"], path: "Fuzz/scalpel-fuzz")
    )
}
