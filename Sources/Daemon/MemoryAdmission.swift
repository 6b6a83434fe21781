import Foundation
import Synchronization
import Wire

/// Admission control for memory: a model load or a request's KV cache is refused with
/// RESOURCE_EXHAUSTED, before anything is allocated, when it does not fit.
///
/// What fits is the smaller of
/// - what the system has (`SystemMemory`: MemAvailable, cgroup v2 headroom) minus `margin`
///   (left to the kernel and the rest of the machine), and
/// - the operator's `limit` (config `memory_limit_bytes`) minus what the daemon has already
///   reserved: loaded models' weights and the KV caches of running requests.
///
/// The system figure already reflects memory the daemon has touched; the ledger is what makes
/// the configured limit exact. Two admissions racing for the last free memory can both pass
/// the system check (MemAvailable moves only once pages are touched); the limit is race-free.
public final class MemoryAdmission: Sendable {
    /// An upper bound on what the daemon may hold; nil = only the system's figures.
    public let limit: Int?
    /// Bytes of the system's available memory never handed out.
    public let margin: Int
    private let probe: @Sendable () -> SystemMemory
    private let reservedBytes = Mutex(0)

    public init(limit: Int?, margin: Int, probe: @escaping @Sendable () -> SystemMemory = { SystemMemory.current() }) {
        self.limit = limit
        self.margin = margin
        self.probe = probe
    }

    /// Bytes currently reserved (loaded weights plus running requests).
    public var reserved: Int { reservedBytes.withLock { $0 } }

    /// Checks that `needed` bytes fit and reserves `keep` of them (≤ `needed`: a load needs
    /// transient buffers it frees before it finishes) until the reservation is released.
    /// `what` names the consumer in the error ("model 'm'", "request 7 on model 'm'").
    public func admit(_ needed: Int, keep: Int? = nil, for what: String, detail: String = "") throws(ServiceError) -> MemoryReservation {
        let keep = min(keep ?? needed, needed)
        let system = probe()
        let granted = reservedBytes.withLock { reserved -> Int? in
            var available = Int.max
            if let figure = system.available { available = figure > margin ? figure - margin : 0 }
            if let limit { available = min(available, max(0, limit - reserved)) }
            guard needed <= available else { return available }
            reserved += keep
            return nil
        }
        if let available = granted {
            throw ServiceError(.resourceExhausted, "\(what) needs \(Self.megabytes(needed))\(detail.isEmpty ? "" : " (\(detail))"), "
                               + "only \(Self.megabytes(available)) is available (\(describe(system)))")
        }
        return MemoryReservation(bytes: keep, ledger: self)
    }

    fileprivate func release(_ bytes: Int) {
        reservedBytes.withLock { $0 -= bytes }
    }

    private func describe(_ system: SystemMemory) -> String {
        var parts: [String] = []
        if let m = system.memAvailable { parts.append("MemAvailable \(Self.megabytes(m))") }
        if let c = system.cgroupHeadroom { parts.append("cgroup headroom \(Self.megabytes(c))") }
        parts.append("margin \(Self.megabytes(margin))")
        if let limit { parts.append("memory_limit_bytes \(Self.megabytes(limit)) of which \(Self.megabytes(reserved)) reserved") }
        return parts.joined(separator: ", ")
    }

    /// "12.3 MB" (decimal megabytes, as the daemon's other memory figures).
    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
}

/// Bytes held against a `MemoryAdmission` ledger, given back when this is released (or
/// deinitialised: a served model keeps its weights' reservation as long as it lives).
public final class MemoryReservation: Sendable {
    /// Bytes reserved.
    public let bytes: Int
    private let ledger: MemoryAdmission
    private let released = Atomic(false)

    fileprivate init(bytes: Int, ledger: MemoryAdmission) {
        self.bytes = bytes
        self.ledger = ledger
    }

    /// Gives the bytes back (once; later calls do nothing).
    public func release() {
        if !released.exchange(true, ordering: .acquiringAndReleasing) { ledger.release(bytes) }
    }

    deinit { release() }
}
