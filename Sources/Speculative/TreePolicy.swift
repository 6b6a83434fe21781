import Foundation
import Inference
import Synchronization

/// How a request is decoded when it leaves the tree to the daemon, and why.
public struct TreeChoice: Sendable, Equatable {
    /// The tree, or nil for plain decoding.
    public var tree: TreeConfig?
    /// Tokens per step the choice expects (1 for plain decoding).
    public var expectedTokensPerStep: Double
    /// Expected tokens per second of the choice, and of plain decoding, on this machine.
    public var expectedRate: Double
    public var plainRate: Double
    /// One sentence for the result and the logs.
    public var reason: String
    /// Requests the choice expected to share each target pass with (1: alone).
    public var company: Int = 1
}

/// Cost-aware tree choice for one model and head: picks the tree (or plain decoding) that
/// maximises expected tokens per second, from the measured cost of passes (`PassCosts`) and
/// the acceptance statistics of the steps served so far.
///
/// Expected tokens per step of a dynamic tree (depth d, top-k k) are 1 + Σⱼ Πᵢ≤ⱼ Aᵢ(k), where
/// Aᵢ(k) is the probability that one of the k best-ranked drafts at depth i is accepted when
/// its parent was — estimated per (depth, rank) from every step of every shape, with a
/// cautious prior where nothing was seen yet (optimistic enough to try a shape once). Its cost
/// is d − 1 head passes of k rows (one per draft level), a target pass of the verified tokens
/// and a head pass of the accepted ones. Once a shape has generated `observedTokens` tokens, its
/// measured rate replaces the model's prediction; the ratio of measured to predicted rates of
/// the choices seen so far corrects the predictions of the others (overheads the cost model
/// leaves out). Plain decoding is a candidate like any tree — measured first, since trees
/// are judged against it — so a model on which no tree pays (a small model in cache, where
/// a head pass costs nearly what a target pass does) is decoded plainly. Greedy and sampled
/// requests keep separate statistics. Thread-safe.
public final class TreePolicy: Sendable {
    public let costs: PassCosts
    /// Candidate shapes: chains of depth 1…6, and top-2/top-3 trees of depth 2…5 verifying
    /// every drafted level's k best (total 1 + d·k ≤ `maxVerified`).
    public let candidates: [TreeConfig]
    /// Tokens a choice must have generated before its measured rate replaces the prediction.
    public let observedTokens: Int

    /// [greedy, sampled]
    private let state: Mutex<[Statistics]>

    public init(costs: PassCosts, maxVerified: Int = 16, observedTokens: Int = 64) {
        self.costs = costs
        self.observedTokens = observedTokens
        var shapes: [TreeConfig] = (1...6).map { .dynamic(depth: $0, topK: 1, totalTokens: $0 + 1) }
        for k in 2...3 {
            for d in 2...5 where 1 + d * k <= maxVerified { shapes.append(.dynamic(depth: d, topK: k, totalTokens: 1 + d * k)) }
        }
        candidates = shapes.filter { $0.verifiedTokens <= maxVerified }
        state = Mutex([Statistics(), Statistics()])
    }

    private static func index(_ sampled: Bool) -> Int { sampled ? 1 : 0 }

    /// Per (depth, rank) acceptance counts, and measured rates per shape and for plain decoding.
    struct Statistics {
        static let depths = 8, ranks = 4
        /// [(depths + 1) × ranks], by depth then rank (depth 0 unused).
        var trials = [Double](repeating: 0, count: (depths + 1) * ranks)
        var hits = [Double](repeating: 0, count: (depths + 1) * ranks)
        /// Measured rates by shape and company bucket, and of plain decoding by company bucket.
        var shapes: [ShapeKey: Measured] = [:]
        var plain = [Measured](repeating: Measured(), count: companyBuckets)

        static func cell(_ depth: Int, _ rank: Int) -> Int { depth * ranks + rank }
    }

    struct ShapeKey: Hashable {
        var tree: TreeConfig
        var bucket: Int
    }

    /// Requests sharing a pass, in buckets whose members decode at similar rates: 1, 2, 3–4,
    /// 5–8, 9–16, 17 or more.
    static let companyBuckets = 6
    static func bucket(_ company: Int) -> Int {
        company <= 1 ? 0 : company == 2 ? 1 : company <= 4 ? 2 : company <= 8 ? 3 : company <= 16 ? 4 : 5
    }

    struct Measured {
        var tokens = 0
        var seconds = 0.0
        var rate: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
    }

    /// Records one EAGLE step's acceptance: the drafted tree and the accepted path. Called
    /// once per step: counts are updated in place (nothing allocated).
    public func record(drafted: DraftTree, accepted: Acceptance, sampled: Bool) {
        state.withLock { all in
            let i = Self.index(sampled)
            for (step, node) in accepted.path.enumerated() {
                let children = drafted.children(of: node)
                let depth = drafted.depths[node] + 1
                guard depth <= Statistics.depths, !children.isEmpty else { continue }
                for rank in 0..<min(children.count, Statistics.ranks) { all[i].trials[Statistics.cell(depth, rank)] += 1 }
                // A slice: its indices are the tree's, the rank counts from its start.
                if step + 1 < accepted.path.count, let at = children.firstIndex(of: accepted.path[step + 1]),
                   case let rank = at - children.startIndex, rank < Statistics.ranks {
                    all[i].hits[Statistics.cell(depth, rank)] += 1
                }
            }
        }
    }

    /// Records a finished request's decoding speed: `tokens` generated after the first in
    /// `seconds` of decoding, with `tree` (nil: plain decoding), while `company` requests
    /// (itself included) shared its passes. Measured the same way for every choice, so the
    /// rates compare.
    public func recordRequest(tree: TreeConfig?, tokens: Int, seconds: Double, sampled: Bool, company: Int = 1) {
        guard tokens > 0, seconds > 0 else { return }
        let bucket = Self.bucket(company)
        state.withLock { all in
            let i = Self.index(sampled)
            if let tree {
                all[i].shapes[ShapeKey(tree: tree, bucket: bucket), default: Measured()].tokens += tokens
                all[i].shapes[ShapeKey(tree: tree, bucket: bucket), default: Measured()].seconds += seconds
            } else {
                all[i].plain[bucket].tokens += tokens
                all[i].plain[bucket].seconds += seconds
            }
        }
    }

    /// Records a finished generation decoded with `tree` (nil: plain): its decode phase, the
    /// first token (sampled from the prefill) excluded — or, when a `schedule` re-chose while it
    /// ran, each of its segments. Cancelled generations are left out.
    public func record(_ result: GenerationResult, tree: TreeConfig?, schedule: TreeSchedule? = nil, sampled: Bool,
                       company: Int = 1) {
        guard result.stopReason != .cancelled else { return }
        guard let schedule else {
            return recordRequest(tree: tree, tokens: result.tokens.count - 1, seconds: result.decodeSeconds,
                                 sampled: sampled, company: company)
        }
        for s in schedule.segments {
            recordRequest(tree: s.tree, tokens: s.tokens, seconds: s.seconds, sampled: sampled, company: company)
        }
    }

    /// The best choice now for a greedy or sampled request that will share each target pass
    /// with `company` requests (itself included; 1 when it runs alone). In company a tree's
    /// rows are verified beside the others' (the pass costs what all their rows cost) and its
    /// draft rows share the head's passes with theirs, so the trees that pay shrink as company
    /// grows, down to plain decoding.
    public func choose(sampled: Bool, company: Int = 1) -> TreeChoice {
        let s = statistics(sampled: sampled)
        let company = max(1, company), bucket = Self.bucket(company)
        let among = company > 1 ? " with \(company) requests sharing each pass" : ""
        // Plain decoding is measured before any tree is compared with it: its calibrated rate
        // leaves out per-token costs (sampling, detokenizing, events) that a tree's measured
        // rate includes, and trees are judged against what plain decoding really achieves.
        guard s.plain[bucket].tokens >= observedTokens else {
            let predicted = Double(1) / costs.targetSeconds(Double(company))
            return TreeChoice(tree: nil, expectedTokensPerStep: 1, expectedRate: predicted, plainRate: predicted,
                              reason: "plain: measuring plain decoding first\(among) (\(s.plain[bucket].tokens) of \(observedTokens) tokens), to compare trees with",
                              company: company)
        }
        let plainRate = s.plain[bucket].rate
        // Measured ÷ predicted over the choices with enough tokens in this company (plain
        // included): what the cost model leaves out. It corrects the predictions of the trees
        // not measured yet; the lower median errs toward the more pessimistic figure while
        // there are few.
        var ratios = [plainRate * costs.targetSeconds(Double(company))]
        for (key, m) in s.shapes where key.bucket == bucket && m.tokens >= observedTokens {
            ratios.append(m.rate / predictedRate(key.tree, s, company: company).rate)
        }
        let correction = ratios.sorted()[(ratios.count - 1) / 2]

        var best: (shape: TreeConfig, tokens: Double, rate: Double, measured: Bool)?
        for shape in candidates {
            let predicted = predictedRate(shape, s, company: company)
            let measured = s.shapes[ShapeKey(tree: shape, bucket: bucket)].flatMap { $0.tokens >= observedTokens ? $0.rate : nil }
            let rate = measured ?? predicted.rate * correction
            if rate > (best?.rate ?? plainRate) { best = (shape, predicted.tokens, rate, measured != nil) }
        }
        guard let best else {
            return TreeChoice(tree: nil, expectedTokensPerStep: 1, expectedRate: plainRate, plainRate: plainRate,
                              reason: String(format: "plain: no tree is expected to beat plain decoding (%.1f tok/s)%@ on this machine",
                                             plainRate, among),
                              company: company)
        }
        let reason = String(format: "%@: %@ %.2f tokens/step, %.1f tok/s vs plain %.1f tok/s (%.2f×)%@",
                            Self.describe(best.shape), best.measured ? "measured" : "predicted", best.tokens, best.rate,
                            plainRate, best.rate / plainRate, among)
        return TreeChoice(tree: best.shape, expectedTokensPerStep: best.tokens, expectedRate: best.rate, plainRate: plainRate,
                          reason: reason, company: company)
    }

    /// A copy of the greedy or sampled statistics.
    func statistics(sampled: Bool) -> Statistics { state.withLock { $0[Self.index(sampled)] } }

    /// The smoothed estimate of P(the rank-`rank` draft at `depth` is accepted | its parent was).
    public func acceptanceRate(depth: Int, rank: Int, sampled: Bool) -> Double {
        acceptance(depth: depth, rank: rank, statistics(sampled: sampled))
    }

    /// The cost model's tokens per step and tokens per second for `shape`, for one of
    /// `company` requests drafting the same shape in step: each draft level is one head pass
    /// over every request's k rows, the commit one over their accepted tokens, and the
    /// verification one target pass over all their trees.
    func predictedRate(_ shape: TreeConfig, _ s: Statistics, company: Int = 1) -> (tokens: Double, rate: Double) {
        guard case .dynamic(let depth, let k, let total) = shape else { return (1, 0) }
        var tokens = 1.0, reach = 1.0
        for d in 1...depth {
            var level = 0.0
            for r in 0..<min(k, Statistics.ranks) { level += acceptance(depth: d, rank: r, s) }
            reach *= min(1, level)
            tokens += reach
        }
        let c = Double(company)
        let drafting = Double(depth - 1) * costs.headSeconds(c * Double(k)) + costs.headSeconds(c * tokens)
        let seconds = drafting + costs.targetSeconds(c * Double(total))
        return (tokens, tokens / seconds)
    }

    /// P(the rank-r draft at `depth` is accepted | its parent was), smoothed toward a prior:
    /// the same rank one level up (or, at depth 1, 0.6 for the best draft and a third of the
    /// previous rank's for the others).
    func acceptance(depth: Int, rank: Int, _ s: Statistics) -> Double {
        let prior: Double
        if depth > 1 {
            prior = acceptance(depth: depth - 1, rank: rank, s)
        } else {
            prior = rank == 0 ? 0.6 : acceptance(depth: 1, rank: rank - 1, s) / 3
        }
        guard depth <= Statistics.depths, rank < Statistics.ranks else { return prior }
        let weight = 8.0
        let cell = Statistics.cell(depth, rank)
        return (s.hits[cell] + weight * prior) / (s.trials[cell] + weight)
    }

    /// "dynamic depth=2 top_k=1 total=3", or "static 26 tokens".
    public static func describe(_ tree: TreeConfig) -> String {
        switch tree {
        case .dynamic(let d, let k, let t): return "dynamic depth=\(d) top_k=\(k) total=\(t)"
        case .staticTree(let choices): return "static \(choices.count + 1) tokens"
        }
    }
}
