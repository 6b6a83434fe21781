/// The table of contents of a ZIP archive held in a `MappedFile`, for reading stored
/// (uncompressed) entries in place.
///
/// `torch.save` (since 1.6) writes such an archive: every entry is stored, and tensor data is
/// aligned by padding the local headers' extra fields. We read the end-of-central-directory
/// record (and its ZIP64 form), the central directory, and — only for the entries asked for —
/// the local header, whose own name and extra lengths say where the data starts. Every
/// offset and length is checked against the file before it is used; CRCs are not checked
/// (the data is multi-gigabyte and read through the mapping on demand).
struct ZipArchive {
    /// One central-directory record.
    struct Entry {
        let name: String
        let method: UInt16
        let flags: UInt16
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let path: String
    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]
    private let file: MappedFile

    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let centralSignature: UInt32 = 0x0201_4B50
    private static let localSignature: UInt32 = 0x0403_4B50

    init(file: MappedFile) throws(CheckpointError) {
        self.file = file
        path = file.path
        let reader = ByteReader(file: file)
        let end = try Self.findEndRecord(reader, path: path)
        var singleDisk = reader.u16(end + 4) == 0 && reader.u16(end + 6) == 0
        // `end + 22 <= size`, so these loads succeed.
        var count = Int(reader.u16(end + 10) ?? 0)
        var directorySize = Int(reader.u32(end + 12) ?? 0)
        var directoryOffset = Int(reader.u32(end + 16) ?? 0)
        // A ZIP64 locator sits right before the classic record when the 16/32-bit fields overflowed.
        if end >= 20, reader.u32(end - 20) == Self.zip64LocatorSignature {
            guard let recordOffset = reader.int64(end - 12), recordOffset < end, reader.u32(recordOffset) == Self.zip64EndSignature,
                  let total = reader.int64(recordOffset + 32), let size = reader.int64(recordOffset + 40),
                  let offset = reader.int64(recordOffset + 48)
            else { throw .unsupportedArchive(file: path, detail: "ZIP64 end-of-central-directory record is missing or cut short") }
            (count, directorySize, directoryOffset) = (total, size, offset)
            singleDisk = reader.u32(recordOffset + 16) == 0 && reader.u32(recordOffset + 20) == 0
        }
        guard singleDisk else { throw .unsupportedArchive(file: path, detail: "multi-disk ZIP archives are not supported") }
        guard directoryOffset <= file.size, directorySize <= file.size - directoryOffset else {
            throw .truncated(file: path, detail: "central directory at \(directoryOffset) (\(directorySize) bytes) lies beyond the end of the file (\(file.size) bytes)")
        }
        // Each record is at least 46 bytes, which bounds `count` before we reserve anything.
        guard count <= directorySize / 46 else {
            throw .unsupportedArchive(file: path, detail: "central directory claims \(count) entries in \(directorySize) bytes")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var index: [String: Int] = [:]
        var position = directoryOffset
        for _ in 0..<count {
            let entry = try Self.readCentralRecord(reader, at: &position, limit: directoryOffset + directorySize, path: path)
            guard index[entry.name] == nil else {
                throw .unsupportedArchive(file: path, detail: "entry '\(entry.name)' appears twice")
            }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    /// The classic end record: 22 bytes plus a comment of up to 64 KiB, so search back that far.
    private static func findEndRecord(_ reader: ByteReader, path: String) throws(CheckpointError) -> Int {
        let lowest = max(0, reader.size - 22 - 0xFFFF)
        var position = reader.size - 22
        while position >= lowest, position >= 0 {
            if reader.u32(position) == endSignature { return position }
            position -= 1
        }
        if reader.u32(0) == localSignature {
            throw .truncated(file: path, detail: "ZIP archive has no end-of-central-directory record (cut short?)")
        }
        if reader.u8(0) == 0x80 {
            throw .unsupportedArchive(file: path, detail: "this is a legacy (pre-1.6, non-zip) torch.save file; re-save it with a current torch")
        }
        throw .unsupportedArchive(file: path, detail: "no ZIP end-of-central-directory record (not a ZIP archive, or truncated)")
    }

    private static func readCentralRecord(
        _ reader: ByteReader, at position: inout Int, limit: Int, path: String
    ) throws(CheckpointError) -> Entry {
        let p = position
        guard p + 46 <= limit, reader.u32(p) == centralSignature,
              let flags = reader.u16(p + 8), let method = reader.u16(p + 10),
              let csize32 = reader.u32(p + 20), let size32 = reader.u32(p + 24),
              let nameLength = reader.u16(p + 28), let extraLength = reader.u16(p + 30),
              let commentLength = reader.u16(p + 32), let offset32 = reader.u32(p + 42)
        else { throw .unsupportedArchive(file: path, detail: "bad central-directory record at byte \(p)") }
        let nameStart = p + 46, extraStart = nameStart + Int(nameLength)
        let next = extraStart + Int(extraLength) + Int(commentLength)
        guard next <= limit, let nameBytes = reader.bytes(nameStart, count: Int(nameLength)),
              let name = String(validating: nameBytes, as: UTF8.self)
        else { throw .unsupportedArchive(file: path, detail: "central-directory record at byte \(p) has a bad or overlong name") }
        var size = Int(size32), compressedSize = Int(csize32), localOffset = Int(offset32)
        // ZIP64 extra field (id 1): the 64-bit values, in this order, for each field saturated at 0xFFFFFFFF.
        var extra = extraStart
        while extra + 4 <= extraStart + Int(extraLength), let id = reader.u16(extra), let length16 = reader.u16(extra + 2) {
            let body = extra + 4, length = Int(length16)
            guard body + length <= extraStart + Int(extraLength) else { break }
            if id == 1 {
                var field = body
                func next64() throws(CheckpointError) -> Int {
                    guard field + 8 <= body + length, let value = reader.int64(field) else {
                        throw .unsupportedArchive(file: path, detail: "ZIP64 extra field of '\(name)' is too short")
                    }
                    field += 8
                    return value
                }
                if size32 == 0xFFFF_FFFF { size = try next64() }
                if csize32 == 0xFFFF_FFFF { compressedSize = try next64() }
                if offset32 == 0xFFFF_FFFF { localOffset = try next64() }
            }
            extra = body + length
        }
        guard localOffset < reader.size else {
            throw .truncated(file: path, detail: "entry '\(name)' starts at byte \(localOffset) but the file has \(reader.size)")
        }
        position = next
        return Entry(name: name, method: method, flags: flags, compressedSize: compressedSize,
                     size: size, localHeaderOffset: localOffset)
    }

    func contains(_ name: String) -> Bool { index[name] != nil }

    /// Where a stored entry's bytes lie in the file: `(offset, count)`.
    func dataRange(of name: String) throws(CheckpointError) -> (offset: Int, count: Int) {
        guard let i = index[name] else { throw .unsupportedArchive(file: path, detail: "archive has no entry '\(name)'") }
        let entry = entries[i]
        guard entry.flags & 1 == 0 else { throw .unsupportedArchive(file: path, detail: "entry '\(name)' is encrypted") }
        guard entry.method == 0 else {
            throw .unsupportedArchive(file: path, detail: "entry '\(name)' is compressed (method \(entry.method)); torch.save stores entries uncompressed")
        }
        guard entry.compressedSize == entry.size else {
            throw .unsupportedArchive(file: path, detail: "stored entry '\(name)' has compressed size \(entry.compressedSize) ≠ size \(entry.size)")
        }
        let reader = ByteReader(file: file)
        let p = entry.localHeaderOffset
        guard reader.u32(p) == Self.localSignature, let nameLength = reader.u16(p + 26), let extraLength = reader.u16(p + 28) else {
            throw .truncated(file: path, detail: "local header of '\(name)' at byte \(p) is missing")
        }
        let start = p + 30 + Int(nameLength) + Int(extraLength)
        guard start <= file.size, entry.size <= file.size - start else {
            throw .truncated(file: path, detail: "entry '\(name)' of \(entry.size) bytes starts at byte \(start) but the file has \(file.size)")
        }
        return (start, entry.size)
    }

    /// A copy of a (small) stored entry, refusing entries larger than `limit` bytes.
    func bytes(of name: String, limit: Int) throws(CheckpointError) -> [UInt8] {
        let range = try dataRange(of: name)
        guard range.count <= limit else {
            throw .unsupportedArchive(file: path, detail: "entry '\(name)' is \(range.count) bytes (limit \(limit))")
        }
        return Array(UnsafeRawBufferPointer(start: file.base + range.offset, count: range.count))
    }
}

/// Bounds-checked little-endian loads from a mapped file; `nil` past the end.
private struct ByteReader {
    let base: UnsafeRawPointer
    let size: Int

    init(file: MappedFile) { base = file.base; size = file.size }

    private func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T? {
        guard offset >= 0, offset <= size - MemoryLayout<T>.size else { return nil }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    func u8(_ offset: Int) -> UInt8? { load(offset, UInt8.self) }
    func u16(_ offset: Int) -> UInt16? { load(offset, UInt16.self) }
    func u32(_ offset: Int) -> UInt32? { load(offset, UInt32.self) }
    /// A 64-bit length or offset, `nil` if it does not fit in `Int`.
    func int64(_ offset: Int) -> Int? { load(offset, UInt64.self).flatMap { $0 > UInt64(Int.max) ? nil : Int($0) } }

    func bytes(_ offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { return nil }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }
}
