import Foundation

/// The libFuzzer entry points. One binary serves every harness; `EAGLE_FUZZ_TARGET` picks
/// it once, in `LLVMFuzzerInitialize`. A harness must never crash on any input: every
/// failure is a typed error it swallows, and the oracles it checks `fatalError` on are bugs.
enum Harness: String, CaseIterable {
    case frames, safetensors, torch, config, tokenizer

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .frames: FrameHarness.shared.run(bytes)
        case .safetensors: CheckpointHarness.safetensors(bytes)
        case .torch: CheckpointHarness.torch(bytes)
        case .config: ConfigHarness.run(bytes)
        case .tokenizer: TokenizerHarness.shared.run(bytes)
        }
    }
}

nonisolated(unsafe) private var selected: Harness = .frames

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["EAGLE_FUZZ_TARGET"] ?? ""
    guard let harness = Harness(rawValue: name) else {
        FileHandle.standardError.write(Data("EAGLE_FUZZ_TARGET must be one of \(Harness.allCases.map(\.rawValue).joined(separator: ", ")); got '\(name)'\n".utf8))
        exit(2)
    }
    selected = harness
    if let directory = ProcessInfo.processInfo.environment["EAGLE_FUZZ_WRITE_SEEDS"] {
        Seeds.write(harness, to: directory)
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// Writes fuzz input to a file for the readers that take a path (they memory-map it).
/// One file per process, rewritten for every input, on tmpfs when there is one.
enum ScratchFile {
    static let path: String = {
        let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(directory)/eagle-fuzz-\(getpid())"
    }()

    static func write(_ bytes: UnsafeRawBufferPointer) -> String {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            precondition(n > 0, "cannot write \(path)")
            offset += n
        }
        close(fd)
        return path
    }
}
