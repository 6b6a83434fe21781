import ArgumentParser
import Foundation
import Wire

struct Raw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "JSON in, frames out: send proto3-JSON Requests (one per line on stdin), print every Response as JSON.",
        discussion: """
            A hello is sent first unless --no-hello (then the first line should be one). Requests \
            without an id get 1, 2, …. Reads until every request has its terminal response or the \
            server closes the connection. Example: echo '{"health":{}}' | eagle-probe raw
            """)
    @OptionGroup var connection: Connection
    @Flag(help: "Do not send a hello first.") var noHello = false

    func run() throws {
        var requests: [Eagle_V1_Request] = []
        var nextID: UInt64 = 1
        while let line = readLine() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            var request: Eagle_V1_Request
            do { request = try Eagle_V1_Request(jsonString: trimmed) } catch {
                throw ValidationError("not a Request in proto3 JSON: \(trimmed) (\(error))")
            }
            if request.id == 0, request.kindName != "hello" {
                request.id = nextID
                nextID += 1
            }
            requests.append(request)
        }
        try guarded {
            let client: WireClient
            do throws(FrameError) { client = try WireClient(path: connection.path) } catch { throw ProbeFailure(error) }
            var waiting = Set<UInt64>()
            if !noHello { requests.insert(.hello(clientName: "eagle-probe raw"), at: 0) }
            for request in requests {
                do throws(FrameError) { try client.send(request) } catch { throw ProbeFailure(error) }
                waiting.insert(request.id)
            }
            var worst: Int32 = 0
            while !waiting.isEmpty {
                let response: Eagle_V1_Response
                do throws(FrameError) { response = try client.receive() } catch {
                    if case .closed = error { break }
                    throw ProbeFailure(error)
                }
                try printJSON(response)
                if response.isTerminal {
                    waiting.remove(response.id)
                    if case .status(let status) = response.kind, status.code != .ok { worst = max(worst, 10 + Int32(status.code.rawValue)) }
                }
            }
            if worst != 0 { throw ExitCode(worst) }
        }
    }
}
