import Foundation
import Inference
import Tokenization

@_exported import TestSupport

func goldenJSON(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Golden/\(name)"))
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

func ints(_ value: Any?) -> [Int32] { (value as? [NSNumber] ?? []).map { $0.int32Value } }
func floats(_ value: Any?) -> [Float] { (value as? [NSNumber] ?? []).map { $0.floatValue } }

/// Writes a safetensors file from raw parts, for loader error tests.
func writeSafetensors(header: String, data: [UInt8], to url: URL, declaredLength: UInt64? = nil) throws {
    var bytes = [UInt8]()
    let h = Array(header.utf8)
    withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: h)
    bytes.append(contentsOf: data)
    try Data(bytes).write(to: url)
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("eagled-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension WeightDType {
    /// The dtypes whose results reproduce transformers' (to FP32 rounding): `bf16dot` rounds
    /// activations too, and has its own accuracy test.
    static let reproducingReference: [WeightDType] = [.bf16, .f32]
}
