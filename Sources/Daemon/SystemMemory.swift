import Foundation
import Inference

/// How much memory the daemon could still take without the OOM killer stepping in: the
/// kernel's `MemAvailable` (/proc/meminfo), and under cgroup v2 the headroom `memory.max −
/// memory.current` of the daemon's cgroup and of each ancestor that has a limit.
public struct SystemMemory: Sendable, Equatable {
    /// `MemAvailable`, bytes; nil where /proc/meminfo cannot be read.
    public var memAvailable: Int?
    /// The smallest cgroup headroom on the path to the root, bytes; nil without a limit.
    public var cgroupHeadroom: Int?

    public init(memAvailable: Int?, cgroupHeadroom: Int?) {
        self.memAvailable = memAvailable
        self.cgroupHeadroom = cgroupHeadroom
    }

    /// The binding figure: the smaller of the two; nil when neither is known.
    public var available: Int? {
        switch (memAvailable, cgroupHeadroom) {
        case let (m?, c?): return min(m, c)
        case let (m?, nil): return m
        case let (nil, c?): return c
        case (nil, nil): return nil
        }
    }

    /// Reads the figures now (a few small files; cheap enough for every request).
    public static func current(procRoot: String = "/proc", cgroupRoot: String = "/sys/fs/cgroup") -> SystemMemory {
        SystemMemory(memAvailable: memAvailable(procRoot: procRoot),
                     cgroupHeadroom: cgroupHeadroom(procRoot: procRoot, cgroupRoot: cgroupRoot))
    }

    static func memAvailable(procRoot: String) -> Int? {
        guard let text = read("\(procRoot)/meminfo") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kb = Int(fields[1]) else { return nil }
            return CheckedSize.product(kb, 1024)
        }
        return nil
    }

    /// cgroup v2 only: `/proc/self/cgroup` has the line `0::/path`. Every ancestor's limit
    /// applies, so the smallest headroom on the way up wins.
    static func cgroupHeadroom(procRoot: String, cgroupRoot: String) -> Int? {
        guard let text = read("\(procRoot)/self/cgroup"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        var path = String(line.dropFirst(3))
        var smallest: Int?
        while true {
            let directory = cgroupRoot + (path == "/" ? "" : path)
            if let max = read("\(directory)/memory.max").flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
               let current = read("\(directory)/memory.current").flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                let headroom = Swift.max(0, max - current)   // "max" (no limit) does not parse as Int
                smallest = Swift.min(smallest ?? headroom, headroom)
            }
            guard path != "/", !path.isEmpty, let slash = path.lastIndex(of: "/") else { break }
            path = slash == path.startIndex ? "/" : String(path[..<slash])
        }
        return smallest
    }

    /// procfs and cgroupfs report size 0, so read until the end rather than by size.
    private static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
