import Testing
@testable import Speculative
import Inference

@Suite struct DraftTreeTests {
    //        0
    //      /   \
    //     1     2
    //    / \
    //   3   4
    //   |
    //   5
    let tree = DraftTree(tokens: [10, 11, 12, 13, 14, 15], parents: [-1, 0, 0, 1, 1, 3])

    @Test func depthsChildrenAndPaths() {
        #expect(tree.depths == [0, 1, 1, 2, 2, 3])
        #expect((0..<tree.count).map { Array(tree.children(of: $0)) } == [[1, 2], [3, 4], [], [5], [], []])
        #expect(tree.paths == [[0, 2], [0, 1, 4], [0, 1, 3, 5]])
        #expect(tree.maxDepth == 3)
        #expect(tree.positions(base: 7) == [7, 8, 8, 9, 9, 10])
    }

    @Test func ancestorMaskSeesExactlyAncestorsAndSelf() {
        let mask = tree.ancestorMask(base: 4)
        #expect(mask.start == 4 && mask.rows == 6 && mask.columns == 6)
        let visible = (0..<6).map { i in (0..<6).filter { mask.allowed[i * 6 + $0] } }
        #expect(visible == [[0], [0, 1], [0, 2], [0, 1, 3], [0, 1, 4], [0, 1, 3, 5]])
    }

    @Test func emittedTokensAreThePathThenTheBonus() {
        let acceptance = Acceptance(path: [0, 1, 3], bonus: 99)
        #expect(acceptance.emitted(from: tree) == [11, 13, 99])
    }

    @Test func treeConfigValidation() throws {
        try TreeConfig.staticTree(choices: TreeConfig.mcSim7b63).validate(maxVerified: 64)
        #expect(TreeConfig.staticTree(choices: TreeConfig.mcSim7b63).verifiedTokens == 26)
        #expect(throws: SpeculativeError.self) { try TreeConfig.staticTree(choices: [[0, 0]]).validate(maxVerified: 64) }
        #expect(throws: SpeculativeError.self) { try TreeConfig.staticTree(choices: [[0], [0]]).validate(maxVerified: 64) }
        #expect(throws: SpeculativeError.self) { try TreeConfig.dynamic(depth: 0, topK: 4, totalTokens: 8).validate(maxVerified: 64) }
        #expect(throws: SpeculativeError.self) { try TreeConfig.dynamic(depth: 4, topK: 4, totalTokens: 65).validate(maxVerified: 64) }
        #expect(throws: SpeculativeError.self) { try TreeConfig.dynamic(depth: 4, topK: 4, totalTokens: 1).validate(maxVerified: 64) }
    }
}
