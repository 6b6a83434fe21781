import Testing
@testable import Tokenization

@Test func tokenIDIsInt32() { #expect(TokenID.bitWidth == 32) }
