import Foundation

/// tokenizer.json's `model` of type BPE: vocabulary, ranked merges, unknown-character handling
/// (byte fallback to `<0xNN>` tokens, or a possibly fused unk token), and a word cache.
///
/// The merge loop is the reference's (`Word::merge_all`): a min-heap of candidate merges keyed
/// by (rank, position), stale entries skipped, so ties and overlapping pairs resolve identically.
final class BPEModel: Sendable {
    /// token (as Unicode scalars) → id. Scalar arrays, not `String`s: two distinct tokens can be
    /// canonically equivalent, which `String` equality would conflate.
    let vocab: [[UInt32]: TokenID]
    /// id → token text, nil for ids the vocabulary skips.
    let idToToken: [String?]
    /// Single-scalar tokens, the starting symbols of every word.
    private let scalarIDs: [UInt32: TokenID]
    /// Fast path for scalars below 0x200 (all of the byte-level alphabet): -1 where absent.
    private let lowScalarIDs: [TokenID]
    /// (left id, right id) packed → (rank << 32 | merged id).
    private let merges: [UInt64: UInt64]
    private let byteFallbackIDs: [TokenID]?  // [256] id of <0xNN>, -1 where absent; nil without byte_fallback
    private let byteFallback: Bool
    private let unkID: TokenID?
    private let fuseUnk: Bool
    private let ignoreMerges: Bool
    private let continuingSubwordPrefix: [UInt32]?
    private let endOfWordSuffix: [UInt32]?
    private let cache = WordCache()

    var maxID: TokenID { TokenID(idToToken.count) - 1 }

    init(json: JSONValue, reader r: FieldReader) throws(TokenizerError) {
        let type = json["type"]?.stringValue ?? (json["merges"] != nil ? "BPE" : nil)
        guard let type else { throw r.missing("model.type") }
        guard type == "BPE" else { throw r.unsupported("model.type", type) }

        guard let vocabMembers = try r.object(json["vocab"], "model.vocab").objectValue else { throw r.missing("model.vocab") }
        var vocab: [[UInt32]: TokenID] = [:]
        vocab.reserveCapacity(vocabMembers.count)
        var maxID: TokenID = -1
        var scalarIDs: [UInt32: TokenID] = [:]
        for (token, value) in vocabMembers {
            guard let i = value.intValue, i >= 0 else {
                throw r.invalid("model.vocab[\"\(token)\"]", "expected a non-negative integer id")
            }
            guard i <= FieldReader.maxTokenID else {
                throw r.invalid("model.vocab[\"\(token)\"]", "token id \(i) out of range 0...\(FieldReader.maxTokenID)")
            }
            let id = TokenID(i)
            let key = token.scalarValues
            vocab[key] = id
            if key.count == 1 { scalarIDs[key[0]] = id }
            maxID = max(maxID, id)
        }
        var idToToken = [String?](repeating: nil, count: Int(maxID) + 1)
        for (token, value) in vocabMembers { if let i = value.intValue { idToToken[i] = token } }
        self.vocab = vocab
        self.idToToken = idToToken
        self.scalarIDs = scalarIDs
        var low = [TokenID](repeating: -1, count: 0x200)
        for (v, id) in scalarIDs where v < 0x200 { low[Int(v)] = id }
        self.lowScalarIDs = low

        unkID = try {
            () throws(TokenizerError) -> TokenID? in
            guard let v = json["unk_token"], !v.isNull else { return nil }
            let name = try r.string(v, "model.unk_token")
            return vocab[name.scalarValues]
        }()
        fuseUnk = try r.bool(json["fuse_unk"], "model.fuse_unk", default: false)
        byteFallback = try r.bool(json["byte_fallback"], "model.byte_fallback", default: false)
        ignoreMerges = try r.bool(json["ignore_merges"], "model.ignore_merges", default: false)
        func optionalScalars(_ key: String) throws(TokenizerError) -> [UInt32]? {
            guard let v = json[key], !v.isNull else { return nil }
            let s = try r.string(v, "model.\(key)").scalarValues
            return s.isEmpty ? nil : s
        }
        continuingSubwordPrefix = try optionalScalars("continuing_subword_prefix")
        endOfWordSuffix = try optionalScalars("end_of_word_suffix")
        if byteFallback {
            byteFallbackIDs = (0..<256).map { b in vocab[Self.byteTokenName(UInt8(b)).scalarValues] ?? -1 }
        } else {
            byteFallbackIDs = nil
        }

        // Merges: "a b" strings (older files) or ["a", "b"] pairs (tokenizers >= 0.20).
        let mergeList = try r.array(json["merges"], "model.merges")
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeList.count)
        let prefixLength = continuingSubwordPrefix?.count ?? 0
        for (rank, item) in mergeList.enumerated() {
            let a: String, b: String
            if let line = item.stringValue {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw r.invalid("model.merges[\(rank)]", "expected \"left right\", got \"\(line)\"") }
                (a, b) = (String(parts[0]), String(parts[1]))
            } else if let pair = item.arrayValue, pair.count == 2, let x = pair[0].stringValue, let y = pair[1].stringValue {
                (a, b) = (x, y)
            } else {
                throw r.invalid("model.merges[\(rank)]", "expected a string or a pair of strings")
            }
            let sa = a.scalarValues, sb = b.scalarValues
            guard let ia = vocab[sa] else { throw r.invalid("model.merges[\(rank)]", "\"\(a)\" is not in the vocabulary") }
            guard let ib = vocab[sb] else { throw r.invalid("model.merges[\(rank)]", "\"\(b)\" is not in the vocabulary") }
            let merged = sa + sb.dropFirst(min(prefixLength, sb.count))
            guard let im = vocab[merged] else {
                throw r.invalid("model.merges[\(rank)]", "merged token \"\(a)\(b)\" is not in the vocabulary")
            }
            merges[Self.pairKey(ia, ib)] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: im))
        }
        self.merges = merges
    }

    static func byteTokenName(_ b: UInt8) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x\(hex[Int(b >> 4)])\(hex[Int(b & 15)])>"
    }

    @inline(__always) private static func pairKey(_ a: TokenID, _ b: TokenID) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// Appends the ids of one pre-tokenized word.
    func tokenize(_ word: [UInt32], into out: inout [TokenID]) {
        if word.isEmpty { return }
        if ignoreMerges, let id = vocab[word] {
            out.append(id)
            return
        }
        if let hit = cache.get(word) {
            out.append(contentsOf: hit)
            return
        }
        let ids = mergeWord(word)
        cache.put(word, ids)
        out.append(contentsOf: ids)
    }

    private func symbolID(_ word: [UInt32], _ k: Int) -> TokenID? {
        if continuingSubwordPrefix == nil && endOfWordSuffix == nil {
            let v = word[k]
            if v < 0x200 {
                let id = lowScalarIDs[Int(v)]
                return id >= 0 ? id : nil
            }
            return scalarIDs[v]
        }
        var s = [word[k]]
        if k > 0, let p = continuingSubwordPrefix { s = p + s }
        if k == word.count - 1, let x = endOfWordSuffix { s += x }
        return vocab[s]
    }

    /// The reference `merge_word`: initial symbols, then `merge_all`.
    private func mergeWord(_ word: [UInt32]) -> [TokenID] {
        var ids: [TokenID] = []
        ids.reserveCapacity(word.count)
        var pendingUnk = false
        for k in word.indices {
            if let id = symbolID(word, k) {
                if pendingUnk, let unk = unkID { ids.append(unk) }
                pendingUnk = false
                ids.append(id)
                continue
            }
            // Byte fallback (when every byte of the character has its token). As in the
            // reference, this does not flush a pending unk first.
            if let table = byteFallbackIDs, let u = Unicode.Scalar(word[k]) {
                var bytes: [TokenID] = []
                UTF8.encode(u) { bytes.append(table[Int($0)]) }
                if !bytes.contains(-1) {
                    ids.append(contentsOf: bytes)
                    continue
                }
            }
            guard let unk = unkID else { continue }  // no unk token: the character is dropped
            if pendingUnk && !fuseUnk { ids.append(unk) }
            pendingUnk = true
        }
        if pendingUnk, let unk = unkID { ids.append(unk) }
        return ids.count < 2 || merges.isEmpty ? ids : mergeAll(ids)
    }

    private func mergeAll(_ initial: [TokenID]) -> [TokenID] {
        let n = initial.count
        var symbol = initial                       // [n] current id at each live position
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for k in 0..<n { buf[k] = k + 1 < n ? Int32(k + 1) : -1 }
            count = n
        }
        var prev = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for k in 0..<n { buf[k] = Int32(k - 1) }
            count = n
        }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for k in 0..<(n - 1) {
            if let m = merges[Self.pairKey(symbol[k], symbol[k + 1])] {
                heap.push(rank: UInt32(m >> 32), pos: UInt32(k), newID: TokenID(truncatingIfNeeded: m))
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.pos)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            // Skip stale entries: the pair at `pos` must still merge into the same token.
            guard let m = merges[Self.pairKey(symbol[pos], symbol[right])],
                  TokenID(truncatingIfNeeded: m) == top.newID else { continue }
            symbol[pos] = top.newID
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0, let m = merges[Self.pairKey(symbol[Int(prev[pos])], symbol[pos])] {
                heap.push(rank: UInt32(m >> 32), pos: UInt32(prev[pos]), newID: TokenID(truncatingIfNeeded: m))
            }
            if next[pos] >= 0, let m = merges[Self.pairKey(symbol[pos], symbol[Int(next[pos])])] {
                heap.push(rank: UInt32(m >> 32), pos: UInt32(pos), newID: TokenID(truncatingIfNeeded: m))
            }
        }
        var out: [TokenID] = []
        out.reserveCapacity(n)
        for k in 0..<n where alive[k] { out.append(symbol[k]) }
        return out
    }
}

/// Binary min-heap of candidate merges ordered by (rank, position), as the reference's.
private struct MergeHeap {
    struct Entry { var key: UInt64; var newID: TokenID; var pos: UInt32 { UInt32(truncatingIfNeeded: key) } }
    private var items: [Entry] = []

    mutating func push(rank: UInt32, pos: UInt32, newID: TokenID) {
        items.append(Entry(key: UInt64(rank) << 32 | UInt64(pos), newID: newID))
        var k = items.count - 1
        while k > 0 {
            let parent = (k - 1) / 2
            if items[parent].key <= items[k].key { break }
            items.swapAt(parent, k)
            k = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var k = 0
            let n = items.count
            while true {
                let l = 2 * k + 1, r = l + 1
                var m = k
                if l < n, items[l].key < items[m].key { m = l }
                if r < n, items[r].key < items[m].key { m = r }
                if m == k { break }
                items.swapAt(m, k)
                k = m
            }
        }
        return top
    }
}

/// Word → ids memo shared by all encode calls (bounded; cleared when full).
private final class WordCache: @unchecked Sendable {
    private var table: [[UInt32]: [TokenID]] = [:]
    private let lock = NSLock()
    private let capacity = 100_000

    func get(_ word: [UInt32]) -> [TokenID]? {
        lock.lock()
        defer { lock.unlock() }
        return table[word]
    }

    func put(_ word: [UInt32], _ ids: [TokenID]) {
        guard word.count < 256 else { return }
        lock.lock()
        defer { lock.unlock() }
        if table.count >= capacity { table.removeAll(keepingCapacity: true) }
        table[word] = ids
    }
}
