import Glibc
@testable import Inference
import Testing

@Suite struct FloatBufferTests {
    /// Pages of `[pointer, pointer + bytes)` that are resident (mincore).
    static func residentPages(_ pointer: UnsafeMutableRawPointer, bytes: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: pointer) & ~UInt(page - 1))!
        let length = (pointer + bytes) - start
        var flags = [UInt8](repeating: 0, count: (length + page - 1) / page)
        guard mincore(start, length, &flags) == 0 else { return -1 }
        return flags.filter { $0 & 1 != 0 }.count
    }

    @Test(arguments: [1, 15, 1000, (1 << 18) - 3, 1 << 18, 11_000_001])
    func zeroedAndAligned(count: Int) {
        let buffer = FloatBuffer(count: count)
        #expect(UInt(bitPattern: buffer.pointer) % 64 == 0)
        #expect(UnsafeBufferPointer(start: buffer.pointer, count: count).allSatisfy { $0 == 0 })
        buffer.pointer[count - 1] = 1  // the last element is writable
        #expect(buffer[count - 1] == 1)
    }

    /// A large buffer (a KV cache) costs resident memory only for the pages written, not all
    /// of it at allocation (the old memset made every page resident at once).
    @Test func largeBuffersBecomeResidentOnlyWhereUsed() {
        let count = 64 << 20 / 4  // 64 MiB
        let buffer = FloatBuffer(count: count)
        #expect(Self.residentPages(buffer.pointer, bytes: count * 4) <= 1)
        for i in stride(from: 0, to: count / 16, by: 1024) { buffer.pointer[i] = 1 }  // the first 1/16
        let resident = Self.residentPages(buffer.pointer, bytes: count * 4)
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), touched = count * 4 / 16 / page
        // Transparent huge pages (when "always") may round the touched range out to 2 MiB.
        #expect(resident >= touched && resident <= touched + 2 * (2 << 20) / page, "\(resident) of \(count * 4 / page) pages resident")
    }
}
