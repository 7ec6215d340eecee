// swift-tools-version:6.0
import PackageDescription

// Kiln: a differentiable compute-graph compiler for CPUs.
// LLVM 14's headers live outside the default include path (Debian's llvm-14-dev).
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
        .systemLibrary(name: "CLLVM", path: "Sources/CLLVM"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas"),
        .target(name: "KilnCodegen", dependencies: ["KilnIR", "KilnPasses", "CLLVM", "COpenBLAS"], swiftSettings: llvmFlags),
        .target(name: "KilnFrontend", dependencies: ["KilnIR"]),
        .target(name: "KilnAutodiff", dependencies: ["KilnIR"]),
        .target(name: "KilnPasses", dependencies: ["KilnIR"]),
        .target(name: "KilnRuntime", dependencies: [
            "KilnIR", "KilnCodegen", "COpenBLAS",
            .product(name: "Numerics", package: "swift-numerics"),
        ], swiftSettings: llvmFlags),
        .target(name: "Kiln", dependencies: ["KilnIR", "KilnFrontend", "KilnAutodiff", "KilnPasses", "KilnRuntime", "KilnCodegen", "COpenBLAS"], swiftSettings: llvmFlags),
        .executableTarget(name: "kiln", dependencies: [
            "Kiln",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: llvmFlags),
        .testTarget(name: "KilnIRTests", dependencies: ["KilnIR", "Kiln"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnFrontendTests", dependencies: ["KilnFrontend", "Kiln"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnRuntimeTests", dependencies: ["KilnRuntime", "Kiln"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnCLITests", dependencies: ["Kiln"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnPassesTests", dependencies: ["KilnPasses", "Kiln"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnAutodiffTests", dependencies: ["KilnAutodiff", "Kiln"], swiftSettings: llvmFlags),
        .testTarget(name: "KilnCodegenTests", dependencies: ["KilnCodegen", "COpenBLAS", "CLLVM", "KilnIR"], swiftSettings: llvmFlags),
        .executableTarget(name: "kiln-gemm-bench", dependencies: ["KilnCodegen", "COpenBLAS"], path: "Benchmarks/GemmBench",
                          swiftSettings: llvmFlags),
    ]
)
