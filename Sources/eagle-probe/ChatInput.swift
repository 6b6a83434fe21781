import Dispatch
import Glibc

/// SIGINT turned into a readable pipe, so that one `poll` can wait for input (stdin or the
/// socket) and Ctrl-C together, and the chat decides what a Ctrl-C means where it is.
final class InterruptPipe {
    let readFD: Int32
    private let source: DispatchSourceSignal

    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)  // take() reads until empty
        }
        readFD = fds[0]
        let writeFD = fds[1]
        signal(SIGINT, SIG_IGN)  // the dispatch source sees it; the default action would kill us
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            var byte: UInt8 = 1
            _ = write(writeFD, &byte, 1)
        }
        source.resume()
    }

    /// Consumes the pending interrupts; true when there was at least one.
    func take() -> Bool {
        var any = false
        var byte: UInt8 = 0
        while read(readFD, &byte, 1) == 1 { any = true }
        return any
    }
}

/// What waiting on a descriptor together with the interrupt pipe produced.
enum Readiness { case readable, interrupted }

/// Blocks until `fd` is readable (or hung up) or a Ctrl-C arrives.
func waitReadable(_ fd: Int32, or interrupts: InterruptPipe) -> Readiness {
    while true {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: interrupts.readFD, events: Int16(POLLIN), revents: 0)]
        let n = poll(&fds, 2, -1)
        if n < 0 { if errno == EINTR { continue }; return .readable }  // let the read report it
        if fds[1].revents != 0, interrupts.take() { return .interrupted }
        if fds[0].revents != 0 { return .readable }
    }
}

/// Lines from standard input, read with `poll` so that waiting for one can be interrupted.
/// Works the same on a terminal and on a pipe.
struct LineReader {
    enum Event { case line(String), interrupted, end }
    private var buffer: [UInt8] = []
    private var atEnd = false

    mutating func next(_ interrupts: InterruptPipe) -> Event {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return .line(line)
            }
            if atEnd {
                if buffer.isEmpty { return .end }
                defer { buffer.removeAll() }
                return .line(String(decoding: buffer, as: UTF8.self))
            }
            if waitReadable(STDIN_FILENO, or: interrupts) == .interrupted { return .interrupted }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(STDIN_FILENO, &chunk, chunk.count)
            if n > 0 { buffer += chunk[..<n] } else if n == 0 || (errno != EINTR && errno != EAGAIN) { atEnd = true }
        }
    }
}
