import Foundation

/// Process memory figures from /proc, for benchmarks and daemon stats.
public enum MemoryStats {
    /// Current resident set size in bytes (`VmRSS`).
    public static var residentBytes: Int { statusField("VmRSS:") }
    /// Peak resident set size in bytes (`VmHWM`).
    public static var peakResidentBytes: Int { statusField("VmHWM:") }

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let kb = line.dropFirst(name.count).split(separator: " ").first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
        return 0
    }
}
