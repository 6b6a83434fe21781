// swift-tools-version: 6.0
import PackageDescription

// The engine is optimized in debug builds too: the test suite runs real generation (long
// greedy-lossless runs) and an unoptimized forward pass is ~20× slower.
let engineSwiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "eagled",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Tokenization", targets: ["Tokenization"]),
        .library(name: "Speculative", targets: ["Speculative"]),
        .executable(name: "eagle-generate", targets: ["eagle-generate"]),
        .executable(name: "eagle-bench", targets: ["eagle-bench"]),
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Daemon", targets: ["Daemon"]),
        .executable(name: "eagled", targets: ["eagled"]),
        .executable(name: "eagle-probe", targets: ["eagle-probe"]),
        .executable(name: "eagle-daemon-bench", targets: ["eagle-daemon-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
    ],
    targets: [
        // OpenBLAS through Debian's libopenblas-dev (cblas.h + libopenblas.so).
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // The engine's kernels: BF16/FP32 linear layers for 1…64 rows and attention, batch
        // invariant (one fixed summation order per output), on a persistent worker pool.
        // -ffp-contract=off: the compiler must not fuse or reorder what the order fixes.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])],
            linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        // Tokenizers from tokenizer.json: byte-level BPE, SentencePiece-style BPE, chat templates.
        .target(name: "Tokenization"),
        // Tensors, kernels, checkpoint loading, LLaMA forward with KV cache, sampling, plain decoding.
        .target(
            name: "Inference",
            dependencies: ["COpenBLAS", "CKernels", "Tokenization"],
            swiftSettings: engineSwiftSettings
        ),
        // EAGLE: draft heads, draft trees, tree verification and acceptance, the speculative generator.
        .target(
            name: "Speculative",
            dependencies: ["Inference", "Tokenization", "CKernels"],
            swiftSettings: engineSwiftSettings
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
                "Inference", "Tokenization", "Speculative", "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // eagle.proto, its generated swift-protobuf code (committed) and the length-prefixed frame codec.
        .target(
            name: "Wire",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["eagle.proto", "README.md"]
        ),
        // The server: NIO Unix-socket listener, connections, model registry, scheduler, config, systemd glue.
        .target(
            name: "Daemon",
            dependencies: [
                "Wire", "Inference", "Tokenization", "Speculative",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon runs as a swift-service-lifecycle Service (SIGTERM/SIGINT → graceful drain).
        // glibc's mallopt, which Swift's Glibc module does not export (eagled fixes the mmap
        // threshold so per-request buffers go back to the system when freed).
        .target(name: "CMallocTuning"),
        .executableTarget(
            name: "eagled",
            dependencies: [
                "Daemon", "Inference", "CMallocTuning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "eagle-probe",
            dependencies: [
                "Wire",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Daemon-path overhead vs in-process generation, TTFT, concurrent throughput (prints figures).
        .executableTarget(
            name: "eagle-daemon-bench",
            dependencies: [
                "Daemon", "Wire", "Inference", "Tokenization",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "Wire", "Inference", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // Paths shared by the test targets (repository root, fixtures).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Tokenization", "TestSupport"]),
        .testTarget(name: "SpeculativeTests", dependencies: ["Speculative", "Inference", "Tokenization", "CKernels", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
