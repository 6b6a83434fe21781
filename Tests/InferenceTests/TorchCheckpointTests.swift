import Foundation
import Testing
@testable import Inference

/// `pytorch_model.bin` (zip + pickle) loading: values agree with safetensors copies written
/// by the same torch (Tools/make_torch_fixtures.py); hostile or broken files are refused with
/// typed errors and nothing is ever called.
@Suite struct TorchCheckpointTests {
    static func fixture(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Fixtures/torch/\(name)").path
    }

    /// A tensor's values via `read`, whatever its element count (an empty one included).
    static func values(_ info: TensorInfo, _ read: (UnsafeMutablePointer<Float>) throws(CheckpointError) -> Void) throws -> [Float] {
        var out = [Float](repeating: .nan, count: max(info.elementCount, 1))
        try out.withUnsafeMutableBufferPointer { buffer throws(CheckpointError) in try read(buffer.baseAddress!) }
        return Array(out.prefix(info.elementCount))
    }

    /// Every tensor of the safetensors copy is in the .bin with the same dtype, shape and bits.
    static func expectSameFloats(bin: TorchCheckpointFile, safetensors: SafetensorsFile) throws {
        for (name, expected) in safetensors.tensors.sorted(by: { $0.key < $1.key }) {
            let info = try #require(bin.tensors[name], "\(name) missing from \(bin.path)")
            #expect(info.dtype == expected.dtype && info.shape == expected.shape, "\(name)")
            let a = try values(info) { p throws(CheckpointError) in try bin.read(name, expectedShape: info.shape, into: p) }
            let b = try values(expected) { p throws(CheckpointError) in try safetensors.read(name, expectedShape: info.shape, into: p) }
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(name)")
        }
    }

    @Test func stateDictMatchesSafetensors() throws {
        let bin = try TorchCheckpointFile(path: Self.fixture("state-dict.bin"))
        let st = try SafetensorsFile(path: Self.fixture("state-dict.safetensors"))
        #expect(bin.tensors.count == 12)
        #expect(Set(st.tensors.keys).isSubset(of: bin.tensors.keys))
        try Self.expectSameFloats(bin: bin, safetensors: st)
    }

    @Test func viewsScalarsAndParametersHaveTheirValues() throws {
        let bin = try TorchCheckpointFile(path: Self.fixture("state-dict.bin"))
        func read(_ name: String) throws -> [Float] {
            let info = try #require(bin.tensors[name])
            return try Self.values(info) { p throws(CheckpointError) in try bin.read(name, expectedShape: info.shape, into: p) }
        }
        // base = arange(12).reshape(4, 3) / 4 - 1; the views share its storage.
        #expect(try read("shared.row1") == [-0.25, 0, 0.25])
        #expect(try read("shared.tail") == [0.5, 0.75, 1, 1.25, 1.5, 1.75])
        #expect(bin.tensors["shared.transposed"]?.shape == [3, 4])
        #expect(try read("shared.transposed") == [-1, -0.25, 0.5, 1.25, -0.75, 0, 0.75, 1.5, -0.5, 0.25, 1, 1.75])
        #expect(bin.tensors["f32.scalar"]?.shape == [])
        #expect(try read("f32.scalar") == [2.5])
        #expect(try read("f32.param") == [0.5, -0.25])
        #expect(bin.tensors["f32.empty"]?.shape == [0, 3])
        #expect(try read("f32.empty") == [])
    }

    @Test func integerAndBoolTensorsAreListedButNotReadAsWeights() throws {
        let path = Self.fixture("state-dict.bin")
        let bin = try TorchCheckpointFile(path: path)
        #expect(bin.tensors["i64.ids"]?.dtype == .i64 && bin.tensors["i64.ids"]?.shape == [3])
        #expect(bin.tensors["bool.mask"]?.dtype == .bool && bin.tensors["bool.mask"]?.shape == [3])
        var out = [Float](repeating: 0, count: 3)
        #expect(throws: CheckpointError.unsupportedDType(file: path, tensor: "i64.ids", dtype: "I64")) {
            try out.withUnsafeMutableBufferPointer { try bin.read("i64.ids", expectedShape: [3], into: $0.baseAddress!) }
        }
        #expect(throws: CheckpointError.shapeMismatch(file: path, tensor: "f32.param", expected: [3], actual: [2])) {
            try out.withUnsafeMutableBufferPointer { try bin.read("f32.param", expectedShape: [3], into: $0.baseAddress!) }
        }
        #expect(throws: CheckpointError.missingTensor(name: "nope", directory: path)) {
            try out.withUnsafeMutableBufferPointer { try bin.read("nope", expectedShape: [3], into: $0.baseAddress!) }
        }
    }

    /// Protocol 2 (default), protocol 4, and the same entries re-written with ZIP64 records.
    @Test(arguments: ["eagle-head.bin", "eagle-head-p4.bin", "eagle-head-zip64.bin"])
    func eagleHeadMatchesSafetensors(file: String) throws {
        let bin = try TorchCheckpointFile(path: Self.fixture(file))
        let st = try SafetensorsFile(path: Self.fixture("eagle-head.safetensors"))
        let names = ["fc.weight", "fc.bias", "embed_tokens.weight", "layers.0.post_attention_layernorm.weight"]
            + ["q", "k", "v", "o"].map { "layers.0.self_attn.\($0)_proj.weight" }
            + ["gate", "up", "down"].map { "layers.0.mlp.\($0)_proj.weight" }
        #expect(Set(bin.tensors.keys) == Set(names))
        #expect(bin.tensors["fc.weight"]?.shape == [8, 16] && bin.tensors["fc.weight"]?.dtype == .f16)
        try Self.expectSameFloats(bin: bin, safetensors: st)
    }

    @Test(arguments: [
        ("os-system.bin", "os.system"), ("builtins-eval.bin", "builtins.eval"),
        ("subprocess-popen.bin", "subprocess.Popen"), ("hooks-posix-system.bin", "posix.system"),
    ])
    func maliciousGlobalsAreRefused(file: String, global: String) throws {
        let path = Self.fixture(file)
        let error = #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: path) }
        guard case .forbiddenPickle(let f, let detail)? = error else {
            Issue.record("expected forbiddenPickle, got \(String(describing: error))")
            return
        }
        #expect(f == path)
        #expect(detail.contains("'\(global)'"), "\(detail)")
    }

    @Test func brokenArchivesGiveTypedErrors() throws {
        let truncated = Self.fixture("truncated.bin")
        let e1 = #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: truncated) }
        guard case .truncated(truncated, _)? = e1 else { Issue.record("truncated: \(String(describing: e1))"); return }

        let deflated = Self.fixture("deflated.bin")
        let e2 = #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: deflated) }
        guard case .unsupportedArchive(deflated, let detail)? = e2, detail.contains("compressed") else {
            Issue.record("deflated: \(String(describing: e2))"); return
        }

        let short = Self.fixture("short-storage.bin")
        let e3 = #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: short) }
        guard case .tensorOutOfBounds(short, _, _)? = e3 else { Issue.record("short: \(String(describing: e3))"); return }

        let legacy = Self.fixture("legacy.bin")
        let e4 = #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: legacy) }
        guard case .unsupportedArchive(legacy, let d4)? = e4, d4.contains("legacy") else {
            Issue.record("legacy: \(String(describing: e4))"); return
        }
        // A safetensors file is not a zip.
        #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: Self.fixture("eagle-head.safetensors")) }
    }

    /// Every prefix of a real archive is refused (or, past the central directory, read) without a trap.
    @Test func everyTruncationIsATypedError() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("state-dict.bin")))
        let url = try temporaryDirectory().appendingPathComponent("cut.bin")
        for length in stride(from: 1, to: bytes.count, by: 97) {
            try bytes.prefix(length).write(to: url)
            #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: url.path) }
        }
    }

    // MARK: Hostile pickles, through a minimal stored zip

    /// A stored zip holding `archive/data.pkl` and the given storages (CRCs are not checked).
    static func torchZip(_ pickle: [UInt8], storages: [String: [UInt8]] = [:]) throws -> String {
        var out: [UInt8] = [], central: [UInt8] = []
        func le<T: FixedWidthInteger>(_ v: T, _ into: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { into += $0 } }
        let items = [("archive/data.pkl", pickle)] + storages.sorted { $0.key < $1.key }.map { ("archive/data/\($0.key)", $0.value) }
        for (name, data) in items {
            let offset = UInt32(out.count), n = Array(name.utf8)
            le(UInt32(0x0403_4B50), &out); le(UInt16(20), &out); le(UInt16(0), &out); le(UInt16(0), &out)
            le(UInt32(0), &out); le(UInt32(0), &out); le(UInt32(data.count), &out); le(UInt32(data.count), &out)
            le(UInt16(n.count), &out); le(UInt16(0), &out); out += n + data
            le(UInt32(0x0201_4B50), &central); le(UInt16(20), &central); le(UInt16(20), &central); le(UInt16(0), &central)
            le(UInt16(0), &central); le(UInt32(0), &central); le(UInt32(0), &central); le(UInt32(data.count), &central)
            le(UInt32(data.count), &central); le(UInt16(n.count), &central); le(UInt32(0), &central); le(UInt32(0), &central)
            le(UInt32(0), &central); le(offset, &central); central += n
        }
        let directoryOffset = UInt32(out.count)
        out += central
        le(UInt32(0x0605_4B50), &out); le(UInt32(0), &out); le(UInt16(items.count), &out); le(UInt16(items.count), &out)
        le(UInt32(central.count), &out); le(directoryOffset, &out); le(UInt16(0), &out)
        let url = try temporaryDirectory().appendingPathComponent("pytorch_model.bin")
        try Data(out).write(to: url)
        return url.path
    }

    static func unicode(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return [0x58] + withUnsafeBytes(of: UInt32(b.count).littleEndian, Array.init) + b
    }

    /// `{name: _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', count), offset, shape, strides, False, {})}`
    static func tensorPickle(name: String = "w", count: UInt8 = 4, offset: UInt8 = 0, shape: [UInt8] = [4], strides: [UInt8] = [1]) -> [UInt8] {
        func ints(_ values: [UInt8]) -> [UInt8] {  // MARK, BININT1 each, TUPLE
            var out: [UInt8] = [0x28]
            for v in values { out += [0x4B, v] }
            return out + [0x74]
        }
        var p: [UInt8] = [0x80, 0x02, 0x7D]
        p += unicode(name)
        p += Array("ctorch._utils\n_rebuild_tensor_v2\n((".utf8)
        p += unicode("storage")
        p += Array("ctorch\nFloatStorage\n".utf8)
        p += unicode("0") + unicode("cpu")
        p += [0x4B, count, 0x74, 0x51, 0x4B, offset]  // numel, TUPLE, BINPERSID, storage offset
        p += ints(shape) + ints(strides)
        p += [0x89, 0x7D, 0x74, 0x52, 0x73, 0x2E]  // False, {}, TUPLE, REDUCE, SETITEM, STOP
        return p
    }

    @Test func handBuiltTensorPickleReads() throws {
        let data: [Float] = [1, 2, 3, 4]
        let path = try Self.torchZip(Self.tensorPickle(shape: [2, 2], strides: [1, 2]), storages: ["0": data.withUnsafeBytes(Array.init)])
        let bin = try TorchCheckpointFile(path: path)
        var out = [Float](repeating: 0, count: 4)
        try out.withUnsafeMutableBufferPointer { try bin.read("w", expectedShape: [2, 2], into: $0.baseAddress!) }
        #expect(out == [1, 3, 2, 4])
    }

    @Test(arguments: [
        ("view past its storage", tensorPickle(count: 4, offset: 2, shape: [3])),
        ("strides past its storage", tensorPickle(count: 4, shape: [2, 2], strides: [3, 1])),
        ("storage larger than its entry", tensorPickle(count: 200, shape: [4])),
    ])
    func tensorsOutsideTheirStorageAreRefused(label: String, pickle: [UInt8]) throws {
        let path = try Self.torchZip(pickle, storages: ["0": [UInt8](repeating: 0, count: 16)])
        let error = #expect(throws: CheckpointError.self, "\(label)") { try TorchCheckpointFile(path: path) }
        guard case .tensorOutOfBounds(path, "w", _)? = error else { Issue.record("\(label): \(String(describing: error))"); return }
    }

    /// Found by the torch fuzzer (an ASan heap overflow): a name given twice, first to a
    /// strided tensor and then to a contiguous one, kept the first one's strides, and reading
    /// gathered the second tensor's shape with them, past the end of its storage.
    @Test func aTensorNamedTwiceIsRefused() throws {
        let strided = Self.tensorPickle(count: 16, shape: [2, 2], strides: [1, 8])
        let contiguous = Self.tensorPickle(count: 16, shape: [4, 4], strides: [4, 1])
        // One dict: the first entry's SETITEM, then the second entry (without PROTO and EMPTY_DICT).
        let pickle = Array(strided.dropLast()) + Array(contiguous.dropFirst(3))
        let path = try Self.torchZip(pickle, storages: ["0": [UInt8](repeating: 0, count: 64)])
        let error = #expect(throws: CheckpointError.self) { try TorchCheckpointFile(path: path) }
        guard case .malformedPickle(path, let detail)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(detail.contains("'w' twice"))
    }

    static func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// label → (pickle, what the error must mention)
    static let hostile: [String: ([UInt8], String)] = [
        "deep nesting": ([0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 10_000) + [0x2E], "nesting"),
        "undefined memo": ([0x80, 0x02, 0x68, 0x05, 0x2E], "memo index 5"),
        "huge string length": ([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x61], "ends at byte"),
        "no STOP": ([0x80, 0x02, 0x7D], "ends at byte"),
        "stack underflow": ([0x80, 0x02, 0x52, 0x2E], "underflow"),
        "SETITEMS without MARK": ([0x80, 0x02, 0x7D, 0x75, 0x2E], "MARK"),
        "65-byte integer": ([0x80, 0x02, 0x8A, 65] + [UInt8](repeating: 1, count: 65) + [0x2E], "too large"),
        "REDUCE on a string": ([0x80, 0x02] + unicode("x") + [0x29, 0x52, 0x2E], "REDUCE on a str"),
        "BUILD on a list": ([0x80, 0x02, 0x5D, 0x7D, 0x62, 0x2E], "BUILD"),
        "NEWOBJ": ([0x80, 0x02, 0x81, 0x2E], "NEWOBJ"),
        "INST": ([0x80, 0x02] + ascii("ios\nsystem\n."), "0x"),
        "untyped storage": ([0x80, 0x02] + ascii("ctorch\nUntypedStorage\n."), "torch.UntypedStorage"),
        "calling a storage type": ([0x80, 0x02] + ascii("ctorch\nFloatStorage\n)R."), "storage type"),
        "top level is a list": ([0x80, 0x02, 0x5D, 0x2E], "list"),
        "entry is not a tensor": ([0x80, 0x02, 0x7D] + unicode("epoch") + [0x4B, 3, 0x73, 0x2E], "'epoch' is not a tensor"),
        "bad persistent id": ([0x80, 0x02, 0x28] + unicode("storage") + [0x74, 0x51, 0x2E], "persistent id"),
        // x = x + [1] through the memo, again and again: quadratic work without the budget.
        "memo blow-up": ([0x80, 0x02, 0x5D, 0x71, 0x00] + [UInt8]((0..<200_000).flatMap { _ -> [UInt8] in [0x68, 0x00, 0x4B, 0x01, 0x61, 0x71, 0x00] }) + [0x2E], "budget"),
    ]

    @Test(arguments: hostile.keys.sorted())
    func hostilePicklesAreRefused(label: String) throws {
        let (pickle, mentions) = try #require(Self.hostile[label])
        let path = try Self.torchZip(pickle)
        let error = #expect(throws: CheckpointError.self, "\(label)") { try TorchCheckpointFile(path: path) }
        switch error {
        case .forbiddenPickle(path, let detail)?, .malformedPickle(path, let detail)?:
            #expect(detail.contains(mentions), "\(label): \(detail)")
        default:
            Issue.record("\(label): \(String(describing: error))")
        }
    }

    /// Random corruption of a real data.pkl (seeded, so a failure reproduces): each result is
    /// a value or a typed error, never a trap, and both outcomes occur.
    @Test func corruptedPicklesNeverTrap() throws {
        let zip = try ZipArchive(file: MappedFile(path: Self.fixture("eagle-head.bin")))
        let name = try #require(zip.entries.first { $0.name.hasSuffix("/data.pkl") }).name
        let pickle = try zip.bytes(of: name, limit: 1 << 20)
        var rng = RandomSource(seed: 20261202)
        var loaded = 0, refused = 0
        for _ in 0..<2000 {
            var bytes = pickle
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            var unpickler = Unpickler(bytes: bytes, path: "fuzz")
            do { _ = try unpickler.load(); loaded += 1 } catch { refused += 1 }
        }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
        for length in 0..<pickle.count {
            var unpickler = Unpickler(bytes: Array(pickle.prefix(length)), path: "cut")
            #expect(throws: CheckpointError.self) { try unpickler.load() }
        }
    }

    @Test func integerAndFloatEncodings() throws {
        func scalar(_ body: [UInt8]) throws -> Unpickler.Value {
            var unpickler = Unpickler(bytes: [0x80, 0x02] + body + [0x2E], path: "ints")
            return try unpickler.load()
        }
        guard case .int(1 << 32) = try scalar([0x8A, 5, 0, 0, 0, 0, 1]) else { Issue.record("LONG1 2^32"); return }
        guard case .int(-1) = try scalar([0x8A, 1, 0xFF]) else { Issue.record("LONG1 -1"); return }
        guard case .int(0) = try scalar([0x8A, 0]) else { Issue.record("LONG1 0"); return }
        guard case .int(-2) = try scalar([0x4A, 0xFE, 0xFF, 0xFF, 0xFF]) else { Issue.record("BININT -2"); return }
        guard case .int(0xBEEF) = try scalar([0x4D, 0xEF, 0xBE]) else { Issue.record("BININT2"); return }
        guard case .float(1.5) = try scalar([0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]) else { Issue.record("BINFLOAT"); return }
    }

    /// Random corruption of a whole archive (seeded): opening and reading give values or
    /// typed errors, never a trap; some archives open and some are refused.
    @Test func corruptedArchivesNeverTrap() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixture("eagle-head.bin"))))
        let url = try temporaryDirectory().appendingPathComponent("fuzz.bin")
        var rng = RandomSource(seed: 1202)
        var out = [Float](repeating: 0, count: 1024)
        var opened = 0, refused = 0, reads = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            try Data(bytes).write(to: url)
            let bin: TorchCheckpointFile
            do { bin = try TorchCheckpointFile(path: url.path); opened += 1 } catch { refused += 1; continue }
            for (name, info) in bin.tensors where info.elementCount <= out.count {
                do {
                    try out.withUnsafeMutableBufferPointer { try bin.read(name, expectedShape: info.shape, into: $0.baseAddress!) }
                    reads += 1
                } catch {}
            }
        }
        #expect(opened > 0 && refused > 0 && reads > 0, "opened \(opened), refused \(refused), tensors read \(reads)")
    }
}
