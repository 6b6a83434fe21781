/// Which cache rows each new token may attend to, for one forward pass of `rows` tokens.
///
/// Rows of the cache before `start` are visible to every new token (the committed
/// context). For the rest — cache rows from `start` up to and including the new tokens —
/// `allowed[i * columns + j]` says whether new token `i` sees row `start + j`. A draft
/// tree's mask is its ancestor matrix with `start` = the cache length before the pass.
public struct AttentionMask: Sendable, Equatable {
    public private(set) var start: Int
    public private(set) var rows: Int
    public private(set) var columns: Int
    public var allowed: [Bool]

    public init(start: Int, rows: Int, columns: Int, allowed: [Bool]) {
        self.start = start
        self.rows = rows
        self.columns = columns
        self.allowed = allowed
    }

    /// A mask where new token `i` sees the prefix and the new tokens `j` with `visible(i, j)`.
    public init(start: Int, newTokens n: Int, visible: (Int, Int) -> Bool) {
        self.init(start: start, rows: n, columns: n, allowed: (0..<n * n).map { visible($0 / n, $0 % n) })
    }

    /// Makes this a `rows` × `columns` mask from `start` with nothing allowed, reusing the
    /// storage (no allocation once it has held a mask this large).
    public mutating func reshape(start: Int, rows: Int, columns: Int) {
        self.start = start
        self.rows = rows
        self.columns = columns
        allowed.removeAll(keepingCapacity: true)
        allowed.append(contentsOf: repeatElement(false, count: rows * columns))
    }

    @inline(__always)
    func isAllowed(row i: Int, column j: Int) -> Bool { allowed[i * columns + j] }
}
