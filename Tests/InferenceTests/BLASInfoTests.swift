import Testing
@testable import Inference

@Test func openBLASReportsACore() {
    #expect(!BLASInfo.coreName.isEmpty)
    #expect(BLASInfo.threadCount >= 1)
}
