import Foundation
import Testing
import Tokenization

/// Encode/decode throughput on ~100 KB of text. A benchmark, not a test: it only runs with
/// EAGLED_TOKENIZER_BENCH=1, and prints its figures, e.g.
///   EAGLED_TOKENIZER_BENCH=1 swift test -c release -Xswiftc -enable-testing --no-parallel --filter EncodeBenchmark
/// EAGLED_TOKENIZER_BENCH_DIR=/path/to/checkpoint adds a real tokenizer to the run.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["EAGLED_TOKENIZER_BENCH"] == "1", "set EAGLED_TOKENIZER_BENCH=1 to run"))
struct EncodeBenchmark {
    /// This module's sources and the golden script: code and prose, ~100 KB.
    static func corpus() throws -> String {
        let dirs = [Repo.root.appendingPathComponent("Sources/Tokenization"), Repo.root.appendingPathComponent("Tools")]
        var text = ""
        for dir in dirs {
            let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
                .filter { ["swift", "py"].contains($0.pathExtension) }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            for f in files where !f.lastPathComponent.hasPrefix("UnicodeTables") { text += try String(contentsOf: f, encoding: .utf8) }
        }
        while text.utf8.count < 100_000 { text += text }
        return String(decoding: text.utf8.prefix(100_000), as: UTF8.self)
    }

    static let extra = ProcessInfo.processInfo.environment["EAGLED_TOKENIZER_BENCH_DIR"].map { [$0] } ?? []

    @Test(arguments: Fixtures.names + (Repo.hasTinyPystd ? ["tiny-pystd"] : []) + extra)
    func encodeThroughput(name: String) throws {
        let text = try Self.corpus()
        let clock = ContinuousClock()
        var tokenizer: Tokenizer?
        let dir = name.hasPrefix("/") ? URL(fileURLWithPath: name) : Fixtures.directory(name)
        let load = clock.measure { tokenizer = try? Tokenizer.load(directory: dir) }
        let tok = try #require(tokenizer)
        var ids: [TokenID] = []
        let cold = clock.measure { ids = tok.encode(text) }
        var best = Duration.seconds(1000)
        for _ in 0..<5 { best = min(best, clock.measure { ids = tok.encode(text) }) }
        var decoded = ""
        let decodeTime = clock.measure { decoded = tok.decode(ids) }
        let seconds = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        print(String(format: "[bench] %@: %d bytes → %d tokens; load %.1f ms; encode cold %.0f tok/s, warm %.0f tok/s (%.2f MB/s); decode %.0f tok/s",
                     name, text.utf8.count, ids.count, seconds(load) * 1e3, Double(ids.count) / seconds(cold),
                     Double(ids.count) / seconds(best), Double(text.utf8.count) / seconds(best) / 1e6,
                     Double(ids.count) / seconds(decodeTime)))
        #expect(decoded.count > 0)
    }
}
