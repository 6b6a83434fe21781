#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A zero-initialised, 64-byte aligned block of `Float`s that lives as long as the object.
///
/// Used for weights (written once at load, then read-only: safe to share across threads)
/// and for per-session scratch buffers (owned by one session at a time). The `Sendable`
/// conformance rests on that discipline, hence `@unchecked`.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// The mapping of a large buffer (nil: `pointer` came from `posix_memalign`).
    private let mapping: (start: UnsafeMutableRawPointer, bytes: Int)?

    /// From this size on, a buffer is a mapping of its own.
    static let mappedBytes = 1 << 20

    public init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= Self.mappedBytes {
            // Anonymous pages are zero and become resident on first touch: a KV cache for a
            // long context costs nothing until its rows are used (a memset wrote, and made
            // resident, all of it at the start of every request: 2 × 44 MB for the 1.1B at
            // 2048 tokens, ~28 ms each). The data starts 64-byte aligned and ends within 63
            // bytes of an inaccessible page (at it when its size is a multiple of 64 bytes),
            // with another before it, so running off either end faults in every build.
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let dataPages = (bytes + 63 + page - 1) / page * page
            let total = dataPages + 2 * page
            guard let start = mmap(nil, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), start != MAP_FAILED,
                  mprotect(start + page, dataPages, PROT_READ | PROT_WRITE) == 0 else {
                fatalError("out of memory mapping \(bytes) bytes")
            }
            mapping = (start, total)
            let end = UInt(bitPattern: start + page + dataPages)
            let aligned = (end - UInt(bytes)) & ~UInt(63)
            pointer = UnsafeMutableRawPointer(bitPattern: aligned)!.bindMemory(to: Float.self, capacity: count)
        } else {
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
                fatalError("out of memory allocating \(bytes) bytes")
            }
            memset(raw, 0, bytes)
            mapping = nil
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        }
    }

    deinit {
        if let mapping { munmap(mapping.start, mapping.bytes) } else { free(pointer) }
    }

    public var byteCount: Int { count * MemoryLayout<Float>.stride }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
