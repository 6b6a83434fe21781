#if canImport(Glibc)
import Glibc
#endif

/// Process memory figures from /proc, for benchmarks and daemon stats.
public enum MemoryStats {
    /// Current resident set size in bytes (`VmRSS`).
    public static var residentBytes: Int { statusField("VmRSS:") }
    /// Peak resident set size in bytes (`VmHWM`).
    public static var peakResidentBytes: Int { statusField("VmHWM:") }

    /// Reads one "Name:   N kB" line of /proc/self/status (procfs reports size 0, so it is
    /// read line by line rather than by size).
    private static func statusField(_ name: String) -> Int {
        #if canImport(Glibc)
        guard let file = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            guard text.hasPrefix(name) else { continue }
            let kb = text.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
        #endif
        return 0
    }
}
