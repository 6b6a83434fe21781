// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "eagled",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Tokenization", targets: ["Tokenization"]),
        .executable(name: "eagle-generate", targets: ["eagle-generate"]),
        .executable(name: "eagle-bench", targets: ["eagle-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // OpenBLAS through Debian's libopenblas-dev (cblas.h + libopenblas.so).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Tokenizers from tokenizer.json: byte-level BPE, SentencePiece-style BPE, chat templates.
        .target(name: "Tokenization"),
        // Tensors, kernels, checkpoint loading, LLaMA forward with KV cache, sampling, plain decoding.
        .target(
            name: "Inference",
            dependencies: ["COpenBLAS", "Tokenization"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "eagle-generate",
            dependencies: [
                "Inference", "Tokenization",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "eagle-bench",
            dependencies: [
                "Inference", "Tokenization",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Tokenization"]),
    ],
    swiftLanguageModes: [.v6]
)
