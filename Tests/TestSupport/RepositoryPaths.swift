import Foundation

/// The repository root, found from this file's location (Tests/TestSupport/…): shared by
/// every test target, so fixtures and goldens are found the same way everywhere.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A directory under Tests/Fixtures/models.
public func fixtureModel(_ name: String) -> URL {
    repositoryRoot.appendingPathComponent("Tests/Fixtures/models/\(name)")
}
