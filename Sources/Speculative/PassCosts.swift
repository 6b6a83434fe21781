import Foundation
import Inference
import Tokenization

/// What passes cost on this machine for one target and its head, measured with the real
/// kernels: the input of the cost-aware tree choice (`TreePolicy`).
public struct PassCosts: Sendable, Equatable {
    /// One measured pass size (wall time of the fastest run).
    public struct Point: Sendable, Equatable {
        public var tokens: Int
        public var seconds: Double
        public init(_ tokens: Int, _ seconds: Double) {
            self.tokens = tokens
            self.seconds = seconds
        }
    }

    /// Target passes with logits for every row (verification), by tokens in the pass.
    public var target: [Point]
    /// Head passes with draft logits for every row (one draft level, or the commit of the
    /// accepted tokens).
    public var head: [Point]

    public init(target: [Point], head: [Point]) {
        self.target = Self.monotone(target)
        self.head = Self.monotone(head)
    }

    /// Sorted by tokens, each cost lowered to the cheapest of the larger passes: a pass of
    /// more tokens never costs less, so a higher figure is noise (a preempted run).
    static func monotone(_ points: [Point]) -> [Point] {
        var sorted = points.sorted { $0.tokens < $1.tokens }
        for i in sorted.indices.reversed().dropFirst() {
            sorted[i].seconds = min(sorted[i].seconds, sorted[i + 1].seconds)
        }
        return sorted
    }

    /// Seconds of a target pass of `n` tokens (interpolated; extrapolated linearly past the
    /// last measurement).
    public func targetSeconds(_ n: Double) -> Double { Self.interpolate(target, at: n) }
    /// Seconds of a head pass of `n` tokens.
    public func headSeconds(_ n: Double) -> Double { n <= 0 ? 0 : Self.interpolate(head, at: n) }

    static func interpolate(_ points: [Point], at n: Double) -> Double {
        guard let first = points.first else { return 0 }
        if n <= Double(first.tokens) || points.count == 1 {
            return first.seconds * (points.count == 1 ? max(1, n / Double(first.tokens)) : 1)
        }
        for (a, b) in zip(points, points.dropFirst()) where n <= Double(b.tokens) {
            let t = (n - Double(a.tokens)) / Double(b.tokens - a.tokens)
            return a.seconds + t * (b.seconds - a.seconds)
        }
        let (a, b) = (points[points.count - 2], points[points.count - 1])
        let slope = max(0, (b.seconds - a.seconds) / Double(b.tokens - a.tokens))
        return b.seconds + slope * (n - Double(b.tokens))
    }

    /// One line for logs: target n → ms, and the head's.
    public var summary: String {
        func list(_ points: [Point]) -> String {
            points.map { "\($0.tokens):\(String(format: "%.2f", $0.seconds * 1e3))" }.joined(separator: " ")
        }
        return "target pass ms by tokens [\(list(target))], head [\(list(head))]"
    }

    /// Token counts measured by default: verification passes up to 16 tokens, head passes up
    /// to 8 (a draft level holds top-k ≤ 8 nodes; commits hold the accepted tokens).
    public static let targetSizes = [1, 2, 3, 4, 6, 8, 12, 16]
    public static let headSizes = [1, 2, 3, 4, 6, 8]
    /// Larger target passes, measured last while the budget lasts: what a pass shared by
    /// several requests' trees costs (batched serving).
    public static let sharedTargetSizes = [24, 32, 48, 64]
    /// Larger head passes, measured after those: a draft level shared by several requests.
    public static let sharedHeadSizes = [16, 32, 64]

    /// Measures the passes (after a warm-up round over every size, the fastest of
    /// `repetitions`: on a shared machine the slower runs are the ones something else
    /// preempted) at a short
    /// context. Sizes beyond what `budgetSeconds` allows are left out (the curve is then
    /// extrapolated), so a large model's calibration stays within a few seconds.
    public static func measure(
        model: LlamaModel, head: EagleHead, repetitions: Int = 3, budgetSeconds: Double = 2
    ) throws -> PassCosts {
        let clock = ContinuousClock()
        let start = clock.now
        let context = 16
        let maxBatch = max(sharedTargetSizes.last!, sharedHeadSizes.last!)
        let capacity = context + maxBatch + 1
        let session = model.makeSession(maxBatch: maxBatch, contextLength: capacity)
        let vocabulary = model.config.vocabSize
        let tokens = (0..<(context + maxBatch)).map { TokenID(($0 * 7 + 3) % vocabulary) }
        _ = try session.prefill(Array(tokens[0..<context]))

        let draft = DraftSession(head: head, target: model, capacity: capacity, maxBatch: maxBatch)
        let feature = FloatBuffer(count: head.featureWidth)
        func targetPass(_ n: Int) throws {
            _ = try session.forward(Array(tokens[context..<(context + n)]), logits: .all)
            session.truncate(to: context)
        }
        func headPass(_ n: Int) throws {
            try Array(tokens[context..<(context + n)]).withUnsafeBufferPointer { t in
                try draft.forward(tokens: t, feature: { _ in UnsafePointer(feature.pointer) }, withLogits: true)
            }
            draft.truncate(to: 0)
        }
        // Warm up first: right after a load the weights are still being faulted in from the
        // page cache, the worker threads are asleep and the cores clocked down, which made
        // the first sizes measure twice as slow as decoding then runs. 150 ms of 1-token
        // passes, then one round over every size (within the budget).
        let warm = clock.now + .milliseconds(150)
        repeat { try targetPass(1) } while clock.now < warm
        for n in targetSizes where (clock.now - start).seconds < budgetSeconds / 2 { try targetPass(n) }
        for n in headSizes where (clock.now - start).seconds < budgetSeconds / 2 { try headPass(n) }

        func fastest(_ run: () throws -> Void) rethrows -> Double {
            var best = Double.infinity
            for _ in 0..<max(1, repetitions) {
                let t = clock.now
                try run()
                best = min(best, (clock.now - t).seconds)
            }
            return best
        }
        func withinBudget() -> Bool { (clock.now - start).seconds < budgetSeconds }

        var target: [Point] = []
        for n in targetSizes where target.count < 2 || withinBudget() {
            target.append(Point(n, try fastest { try targetPass(n) }))
        }
        var headCosts: [Point] = []
        for n in headSizes where headCosts.count < 2 || withinBudget() {
            headCosts.append(Point(n, try fastest { try headPass(n) }))
        }
        for n in sharedTargetSizes where withinBudget() {
            target.append(Point(n, try fastest { try targetPass(n) }))
        }
        for n in sharedHeadSizes where withinBudget() {
            headCosts.append(Point(n, try fastest { try headPass(n) }))
        }
        return PassCosts(target: target, head: headCosts)
    }
}
