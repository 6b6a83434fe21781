import Foundation
import Testing
@testable import Speculative
import Inference
import Tokenization

/// The cost-aware tree choice on hand-made cost curves and acceptance histories: it must pick
/// deep trees where passes are flat and drafts are accepted, shallow ones where deep drafts
/// fail, plain decoding where no tree can pay, and follow measured rates once it has them.
@Suite struct TreePolicyTests {
    /// Target passes cost `target(n)` ms, head passes `head(n)` ms, for the sizes calibration measures.
    static func costs(target: (Int) -> Double, head: (Int) -> Double) -> PassCosts {
        PassCosts(target: PassCosts.targetSizes.map { .init($0, target($0) / 1e3) },
                  head: PassCosts.headSizes.map { .init($0, head($0) / 1e3) })
    }

    /// Plain decoding measured at exactly its calibrated rate (trees are compared with it).
    static func measurePlain(_ policy: TreePolicy, sampled: Bool = false) {
        policy.recordRequest(tree: nil, tokens: 1000, seconds: 1000 * policy.costs.targetSeconds(1), sampled: sampled)
    }

    /// A chain of `depth` drafts of which the first `accepted` are accepted.
    static func recordChain(_ policy: TreePolicy, depth: Int, accepted: Int, sampled: Bool = false, times: Int = 200) {
        let tree = DraftTree(tokens: (0...depth).map { TokenID($0) }, parents: (0...depth).map { $0 - 1 })
        for _ in 0..<times {
            policy.record(drafted: tree, accepted: Acceptance(path: Array(0...accepted), bonus: 0), sampled: sampled)
        }
    }

    static func depth(_ choice: TreeChoice) -> Int? {
        guard case .dynamic(let d, _, _)? = choice.tree else { return nil }
        return d
    }

    @Test func deepChainWhenPassesAreFlatAndDraftsAreAccepted() {
        // A memory-bound model: a pass of up to 8 tokens costs what one does; the head is cheap.
        let policy = TreePolicy(costs: Self.costs(target: { $0 <= 8 ? 10 : 10 + Double($0 - 8) }, head: { _ in 0.5 }))
        Self.recordChain(policy, depth: 6, accepted: 6)
        Self.measurePlain(policy)
        let choice = policy.choose(sampled: false)
        #expect((Self.depth(choice) ?? 0) >= 5, "\(choice.reason)")
        #expect(choice.expectedTokensPerStep > 4 && choice.expectedRate > 3 * choice.plainRate)
        #expect(policy.acceptanceRate(depth: 3, rank: 0, sampled: false) > 0.9)
    }

    @Test func shallowTreeWhenDeepDraftsAreRejected() {
        let policy = TreePolicy(costs: Self.costs(target: { $0 <= 8 ? 10 : 10 + Double($0 - 8) }, head: { _ in 0.5 }))
        // The first draft is accepted nine times in ten, the second almost never.
        Self.recordChain(policy, depth: 4, accepted: 1, times: 180)
        Self.recordChain(policy, depth: 4, accepted: 0, times: 20)
        Self.measurePlain(policy)
        let choice = policy.choose(sampled: false)
        #expect(choice.tree != nil && (Self.depth(choice) ?? 99) <= 2, "\(choice.reason)")
        #expect(policy.acceptanceRate(depth: 2, rank: 0, sampled: false) < 0.1)
    }

    /// A memory-bound model whose passes stay flat up to 8 rows and then grow with their rows:
    /// alone a deep chain pays; beside 3 other requests the pass of all their trees is no
    /// longer free and a shallower tree wins; beside 15 others plain decoding does.
    @Test func smallerTreesAsCompanyGrows() {
        let policy = TreePolicy(costs: Self.costs(target: { $0 <= 8 ? 10 : 10 + 1.25 * Double($0 - 8) }, head: { _ in 0.5 }))
        Self.recordChain(policy, depth: 6, accepted: 6, times: 60)
        Self.recordChain(policy, depth: 6, accepted: 1, times: 140)
        for company in [1, 4, 16] {
            let plain = policy.costs.targetSeconds(Double(company))
            policy.recordRequest(tree: nil, tokens: 1000, seconds: 1000 * plain, sampled: false, company: company)
        }
        let alone = policy.choose(sampled: false)
        let four = policy.choose(sampled: false, company: 4)
        let sixteen = policy.choose(sampled: false, company: 16)
        #expect(alone.company == 1 && four.company == 4 && sixteen.company == 16)
        #expect(alone.tree != nil && four.tree != nil, "\(alone.reason) / \(four.reason)")
        #expect((Self.depth(four) ?? 0) < (Self.depth(alone) ?? 0), "\(alone.reason) / \(four.reason)")
        #expect(sixteen.tree == nil, "\(sixteen.reason)")
        #expect(sixteen.reason.contains("16 requests"))
        // Plain decoding is measured per company: with 2 requests nothing was measured yet.
        #expect(policy.choose(sampled: false, company: 2).reason.contains("measuring plain decoding first"))
    }

    /// Requests in company draft in step and share the head's passes as they share the
    /// target's: where every pass costs the same whatever its rows, a tree is predicted the
    /// same rate beside 3 others as alone (their drafting is not paid once per request).
    @Test func companyDraftsInSharedHeadPasses() {
        let policy = TreePolicy(costs: Self.costs(target: { _ in 10 }, head: { _ in 2 }))
        Self.recordChain(policy, depth: 4, accepted: 3)
        let s = policy.statistics(sampled: false)
        for shape in policy.candidates {
            let alone = policy.predictedRate(shape, s), four = policy.predictedRate(shape, s, company: 4)
            #expect(abs(four.rate - alone.rate) <= 1e-9 * alone.rate, "\(TreePolicy.describe(shape)): \(four.rate) vs \(alone.rate)")
        }
    }

    @Test func plainWhenNoTreeCanPay() {
        // A small model in cache: passes cost in proportion to their tokens and the head
        // almost as much as the target — even drafts that are always accepted lose.
        let policy = TreePolicy(costs: Self.costs(target: { Double($0) }, head: { 0.8 * Double($0) }))
        Self.recordChain(policy, depth: 6, accepted: 6)
        Self.measurePlain(policy)
        let choice = policy.choose(sampled: false)
        #expect(choice.tree == nil && choice.expectedTokensPerStep == 1, "\(choice.reason)")
        #expect(choice.reason.hasPrefix("plain"))
    }

    @Test func measuredRatesReplacePredictions() throws {
        let policy = TreePolicy(costs: Self.costs(target: { $0 <= 8 ? 10 : 20 }, head: { _ in 0.5 }))
        Self.recordChain(policy, depth: 6, accepted: 6)
        Self.measurePlain(policy)
        let predicted = policy.choose(sampled: false)
        let first = try #require(predicted.tree)
        #expect(predicted.reason.contains("predicted"))
        // The predicted best turned out far slower than plain decoding: plain is chosen, the
        // other trees' predictions corrected down by the slow tree's measured ÷ predicted
        // ratio (the lower median of it and plain's 1).
        policy.recordRequest(tree: first, tokens: 1000, seconds: 100, sampled: false)
        let plain = policy.choose(sampled: false)
        #expect(plain.tree == nil && abs(plain.expectedRate - 100) < 1e-6, "\(plain.reason)")
        // A tree measured even faster wins, on its measured rate.
        let tree = TreeConfig.dynamic(depth: 2, topK: 1, totalTokens: 3)
        policy.recordRequest(tree: tree, tokens: 1000, seconds: 0.05, sampled: false)
        let choice = policy.choose(sampled: false)
        #expect(choice.tree == tree && abs(choice.expectedRate - 20_000) < 1, "\(choice.reason)")
        #expect(choice.reason.contains("measured"))
    }

    /// Plain decoding is measured before trees are compared with it; then its measured rate
    /// is the bar.
    @Test func plainIsMeasuredFirst() {
        let policy = TreePolicy(costs: Self.costs(target: { $0 <= 8 ? 10 : 20 }, head: { _ in 0.5 }))
        Self.recordChain(policy, depth: 6, accepted: 6)
        let first = policy.choose(sampled: false)
        #expect(first.tree == nil && first.reason.contains("measuring plain decoding first"), "\(first.reason)")
        policy.recordRequest(tree: nil, tokens: 40, seconds: 0.4, sampled: false)
        #expect(policy.choose(sampled: false).tree == nil, "40 of 64 tokens: still measuring")
        policy.recordRequest(tree: nil, tokens: 40, seconds: 0.4, sampled: false)
        let next = policy.choose(sampled: false)
        #expect(next.tree != nil && next.plainRate == 100, "\(next.reason)")
    }

    @Test func greedyAndSampledKeepSeparateStatistics() {
        let policy = TreePolicy(costs: Self.costs(target: { $0 <= 8 ? 10 : 20 }, head: { _ in 0.5 }))
        Self.recordChain(policy, depth: 6, accepted: 6, sampled: false)
        Self.recordChain(policy, depth: 6, accepted: 0, sampled: true, times: 400)
        Self.measurePlain(policy)
        Self.measurePlain(policy, sampled: true)
        #expect((Self.depth(policy.choose(sampled: false)) ?? 0) >= 5)
        let sampled = policy.choose(sampled: true)
        #expect((Self.depth(sampled) ?? 0) <= 1, "\(sampled.reason)")
        #expect(policy.acceptanceRate(depth: 1, rank: 0, sampled: true) < 0.05)
    }

    @Test func passCostsInterpolateAndExtrapolate() {
        let costs = PassCosts(target: [.init(1, 1), .init(2, 1), .init(4, 3)], head: [.init(1, 0.5), .init(2, 1)])
        #expect(costs.targetSeconds(1) == 1 && costs.targetSeconds(3) == 2 && costs.targetSeconds(6) == 5)
        #expect(costs.headSeconds(0) == 0 && costs.headSeconds(1.5) == 0.75 && costs.headSeconds(4) == 2)
    }

    /// Calibration on the fixture (with a budget that a sanitized build also meets): every
    /// size measured, costs positive, and the curve rises
    /// overall (a pass of 16 tokens costs more than a pass of one).
    static func bundled() throws -> (LlamaModel, EagleHead) {
        let model = try LlamaModel(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd"))
        return (model, try EagleHead(directory: repositoryRoot.appendingPathComponent("Models/tiny-pystd-eagle"), target: model))
    }

    @Test func calibrationMeasuresTheFixture() throws {
        let (model, head) = try Self.bundled()
        let costs = try PassCosts.measure(model: model, head: head, repetitions: 1, budgetSeconds: 120)
        #expect(costs.target.map(\.tokens) == PassCosts.targetSizes + PassCosts.sharedTargetSizes)
        #expect(costs.head.map(\.tokens) == PassCosts.headSizes + PassCosts.sharedHeadSizes)
        #expect(costs.target.allSatisfy { $0.seconds > 0 } && costs.head.allSatisfy { $0.seconds > 0 })
        #expect(costs.targetSeconds(16) > costs.targetSeconds(1))
    }

    /// A generator with a policy reports every step's acceptance to it.
    @Test func generatorFeedsThePolicy() throws {
        let (model, head) = try Self.bundled()
        let policy = TreePolicy(costs: Self.costs(target: { _ in 1 }, head: { _ in 1 }))
        let prior = policy.acceptanceRate(depth: 1, rank: 0, sampled: false)
        var generator = SpeculativeGenerator(model: model, head: head, tokenizer: nil,
                                             tree: .dynamic(depth: 3, topK: 2, totalTokens: 6))
        generator.policy = policy
        let prompt: [TokenID] = [1, 5, 9, 17]
        let params = GenerationParams(maxTokens: 48)
        let tokens = try generator.generate(prompt: prompt, params: params) { _ in .proceed }.tokens
        #expect(tokens == (try plainTokens(model, prompt: prompt, params: params)))
        #expect(policy.acceptanceRate(depth: 1, rank: 0, sampled: false) != prior)
        #expect(policy.acceptanceRate(depth: 1, rank: 0, sampled: true) == prior)
    }
}
