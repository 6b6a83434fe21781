// swift-tools-version: 6.0
// libFuzzer harnesses over the eagled libraries, a package of their own so that the main
// build never sees them. Fuzz/run.sh builds them with coverage and ASan (`make fuzz`,
// `make fuzz-smoke`, Fuzz/README.md). One executable; the harness is chosen by
// EAGLE_FUZZ_TARGET (frames, safetensors, torch, config, tokenizer). The dependency
// versions are the main package's.
import PackageDescription

let package = Package(
    name: "eagle-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "eagled", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "eagle-fuzz",
            dependencies: [
                .product(name: "Inference", package: "eagled"),
                .product(name: "Tokenization", package: "eagled"),
                .product(name: "Wire", package: "eagled"),
                .product(name: "Daemon", package: "eagled"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // libFuzzer brings `main`.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
