// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "eagled",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Tokenization", targets: ["Tokenization"]),
        .library(name: "Speculative", targets: ["Speculative"]),
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
        // EAGLE: draft heads, draft trees, tree verification and acceptance, the speculative generator.
        .target(
            name: "Speculative",
            dependencies: ["Inference", "Tokenization"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "eagle-generate",
            dependencies: [
                "Inference", "Tokenization", "Speculative",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "eagle-bench",
            dependencies: [
                "Inference", "Tokenization", "Speculative",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Tokenization"]),
        .testTarget(name: "SpeculativeTests", dependencies: ["Speculative", "Inference", "Tokenization"]),
    ],
    swiftLanguageModes: [.v6]
)
