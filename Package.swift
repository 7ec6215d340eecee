// swift-tools-version:6.0
import PackageDescription

// Kiln: a differentiable compute-graph compiler for CPUs.
// LLVM 14's headers live outside the default include path (Debian's llvm-14-dev): every target
// that imports CLLVM (directly or through KilnCodegen) gets the include path.
let llvmFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/lib/llvm-14/include"])]

// The target list reads as the pipeline: IR -> front end -> (passes, autodiff, codegen) -> runtime -> API -> CLI.
let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Kiln", targets: ["Kiln"]),
        .executable(name: "kiln", targets: ["kiln"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        .target(name: "KilnIR"),
        .target(name: "KilnFrontend", dependencies: ["KilnIR"]),
        .target(name: "KilnRuntime", dependencies: [
            "KilnIR",
            .product(name: "Numerics", package: "swift-numerics"),
        ]),
        .target(name: "Kiln", dependencies: ["KilnIR", "KilnFrontend", "KilnRuntime"]),
        .executableTarget(name: "kiln", dependencies: [
            "Kiln",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "KilnIRTests", dependencies: ["KilnIR", "Kiln"]),
        .testTarget(name: "KilnFrontendTests", dependencies: ["KilnFrontend", "Kiln"]),
        .testTarget(name: "KilnRuntimeTests", dependencies: ["KilnRuntime", "Kiln"]),
        .testTarget(name: "KilnCLITests", dependencies: ["Kiln"]),
        // LLVM backend: system libraries (apt-get install llvm-14-dev libopenblas-dev), codegen, its tests and GEMM benchmark.
        .systemLibrary(name: "CLLVM", path: "Sources/CLLVM"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "KilnCodegen", dependencies: ["KilnIR", "CLLVM"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnCodegenTests", dependencies: ["KilnCodegen", "CLLVM", "COpenBLAS"], swiftSettings: llvmFlags),
        .executableTarget(name: "kiln-gemm-bench", dependencies: ["KilnCodegen", "COpenBLAS"], path: "Benchmarks/GemmBench",
                          swiftSettings: llvmFlags),
    ]
)
