import Foundation

/// A copy of fixture model `name` in a fresh temporary directory with every F16 entry of
/// `tensor` set to the bit pattern `bits` (0x7E00 NaN, 0x7C00 +∞): the corrupt or
/// overflowing checkpoint the engine must survive. The caller removes the directory.
public func patchedFixture(_ name: String, tensor: String, f16Bits bits: UInt16) throws -> URL {
    struct PatchError: Error, CustomStringConvertible {
        let description: String
    }
    let source = fixtureModel(name)
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("eagle-patched-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    var found = false
    for file in try FileManager.default.contentsOfDirectory(atPath: source.path) {
        var data = try Data(contentsOf: source.appendingPathComponent(file))
        if file.hasSuffix(".safetensors") {
            let headerBytes = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerBytes))) as? [String: Any]
            if let entry = header?[tensor] as? [String: Any], let offsets = entry["data_offsets"] as? [Int] {
                guard entry["dtype"] as? String == "F16" else { throw PatchError(description: "\(tensor) in \(name) is not F16") }
                for at in stride(from: 8 + headerBytes + offsets[0], to: 8 + headerBytes + offsets[1], by: 2) {
                    data[at] = UInt8(bits & 0xFF)
                    data[at + 1] = UInt8(bits >> 8)
                }
                found = true
            }
        }
        try data.write(to: directory.appendingPathComponent(file))
    }
    guard found else { throw PatchError(description: "no tensor \(tensor) in \(name)") }
    return directory
}
