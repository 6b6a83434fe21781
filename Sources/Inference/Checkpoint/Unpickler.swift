/// A restricted unpickler for the `data.pkl` of a `torch.save` archive.
///
/// It interprets only the opcodes `torch.save` emits (pickle protocol 2, plus the protocol 4
/// forms of the same operations) and resolves only an allow-list of globals, none of which
/// runs code: they are recognised as tags (`_rebuild_tensor_v2` builds a `TorchTensorRef`,
/// `torch.FloatStorage` names a dtype). Any other global is refused when the GLOBAL opcode is
/// read, before anything could be called; any other opcode is refused when reached. Hostile
/// input is bounded: nesting depth, a work budget (items materialised or copied), integer
/// widths and every length are checked, so each failure is a typed `CheckpointError`.
struct Unpickler {
    /// Where a tensor's elements live: an entry `data/<key>` of the archive holding `count`
    /// elements of `dtype`.
    struct StorageRef: Equatable {
        let dtype: TensorDType
        let key: String
        let count: Int
    }

    /// What `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)` describes.
    struct TensorRef: Equatable {
        let storage: StorageRef
        let storageOffset: Int
        let shape: [Int]
        let strides: [Int]
    }

    /// The only globals a checkpoint may name.
    enum Global: Equatable {
        case rebuildTensorV2, rebuildParameter, orderedDict
        case storageType(TensorDType)

        /// Storages of half, bfloat16, float, long and bool: what model and head
        /// checkpoints hold. Anything else is refused like any other global.
        static let storageTypes: [String: TensorDType] = [
            "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16,
            "LongStorage": .i64, "BoolStorage": .bool,
        ]

        init?(module: String, name: String) {
            switch (module, name) {
            case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
            case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
            case ("collections", "OrderedDict"): self = .orderedDict
            case ("torch", _): guard let dtype = Self.storageTypes[name] else { return nil }; self = .storageType(dtype)
            default: return nil
            }
        }
    }

    /// A list, tuple or dict's items, with the nesting depth they reach.
    struct Items {
        var values: [Value] = []
        var depth = 1
    }

    enum Value {
        case none, bool(Bool), int(Int), float(Double), string(String)
        /// Dicts (plain or OrderedDict) keep their items as alternating key, value.
        case tuple(Items), list(Items), dict(Items)
        case global(Global), storage(StorageRef), tensor(TensorRef)

        var depth: Int {
            switch self {
            case .tuple(let items), .list(let items), .dict(let items): return items.depth
            default: return 0
            }
        }

        /// Items a copy of this value touches (a container copy is shallow).
        var width: Int {
            switch self {
            case .tuple(let items), .list(let items), .dict(let items): return items.values.count
            default: return 1
            }
        }

        var kind: String {
            switch self {
            case .none: return "None"
            case .bool: return "bool"
            case .int: return "int"
            case .float: return "float"
            case .string: return "str"
            case .tuple: return "tuple"
            case .list: return "list"
            case .dict: return "dict"
            case .global: return "global"
            case .storage: return "storage"
            case .tensor: return "tensor"
            }
        }
    }

    static let maxDepth = 32
    static let maxLineLength = 256

    let path: String
    private let bytes: [UInt8]
    private var position = 0
    private var stack: [Value] = []
    private var marks: [Int] = []
    private var memo: [Int: Value] = [:]
    /// Items we may still create or copy; generous for real pickles (linear in their size),
    /// it stops inputs that grow quadratically through the memo.
    private var budget: Int

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
        budget = 4096 + 16 * bytes.count
    }

    /// Interprets the whole pickle and returns the value STOP leaves on the stack.
    mutating func load() throws(CheckpointError) -> Value {
        while true {
            let at = position
            let op = try byte()
            try spend(1)
            switch op {
            case 0x80: // PROTO
                let version = try byte()
                guard version <= 5 else { throw malformed("unknown pickle protocol \(version)") }
            case 0x95: _ = try take(8) // FRAME: a length hint only
            case 0x2E: // STOP
                return try pop()
            case 0x28: marks.append(stack.count) // MARK
            case 0x4E: stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try integer(4)))))) // BININT
            case 0x4B: stack.append(.int(Int(try integer(1)))) // BININT1
            case 0x4D: stack.append(.int(Int(try integer(2)))) // BININT2
            case 0x8A: stack.append(.int(try long(Int(try integer(1))))) // LONG1
            case 0x8B: stack.append(.int(try long(Int(Int32(bitPattern: UInt32(try integer(4))))))) // LONG4
            case 0x47: // BINFLOAT, big-endian
                let raw = try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: raw)))
            case 0x58: stack.append(.string(try string(Int(try integer(4))))) // BINUNICODE
            case 0x8C: stack.append(.string(try string(Int(try integer(1))))) // SHORT_BINUNICODE
            case 0x8D: // BINUNICODE8
                let length = try integer(8)
                guard length <= UInt64(bytes.count) else { throw truncated("a string of \(length) bytes") }
                stack.append(.string(try string(Int(length))))
            case 0x29: stack.append(.tuple(Items())) // EMPTY_TUPLE
            case 0x5D: stack.append(.list(Items())) // EMPTY_LIST
            case 0x7D: stack.append(.dict(Items())) // EMPTY_DICT
            case 0x74: stack.append(.tuple(try items(try popMark()))) // TUPLE
            case 0x85, 0x86, 0x87: // TUPLE1-3
                let n = Int(op - 0x84)
                guard stack.count - n >= (marks.last ?? 0) else { throw malformed("stack underflow at byte \(at)") }
                let values = Array(stack.suffix(n))
                stack.removeLast(n)
                stack.append(.tuple(try items(values)))
            case 0x63: // GLOBAL "module\nname\n"
                stack.append(.global(try global(module: try line(), name: try line())))
            case 0x93: // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else {
                    throw malformed("STACK_GLOBAL needs two strings, got \(module.kind) and \(name.kind)")
                }
                stack.append(.global(try global(module: m, name: n)))
            case 0x51: stack.append(.storage(try persistentLoad(try pop()))) // BINPERSID
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args))
            case 0x62: // BUILD: only an OrderedDict's attributes (state_dict()._metadata), which we drop
                let state = try pop()
                guard case .dict? = stack.last else {
                    throw forbidden("BUILD on a \(stack.last?.kind ?? "empty stack") (state: \(state.kind)) at byte \(at)")
                }
            case 0x73: // SETITEM
                let value = try pop(), key = try pop()
                try extend(.dict, with: [key, value])
            case 0x75: // SETITEMS
                let values = try popMark()
                guard values.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of items at byte \(at)") }
                try extend(.dict, with: values)
            case 0x61: try extend(.list, with: [try pop()]) // APPEND
            case 0x65: try extend(.list, with: try popMark()) // APPENDS
            case 0x71: try put(Int(try integer(1))) // BINPUT
            case 0x72: try put(Int(try integer(4))) // LONG_BINPUT
            case 0x94: try put(memo.count) // MEMOIZE
            case 0x68, 0x6A: // BINGET, LONG_BINGET
                let index = Int(try integer(op == 0x68 ? 1 : 4))
                guard let value = memo[index] else { throw malformed("memo index \(index) is not defined (byte \(at))") }
                try spend(value.width)
                stack.append(value)
            default:
                throw forbidden("opcode \(Self.opcodeName(op)) at byte \(at) is not supported")
            }
        }
    }

    // MARK: Operations

    private func global(module: String, name: String) throws(CheckpointError) -> Global {
        guard let global = Global(module: module, name: name) else {
            throw forbidden("global '\(module).\(name)' is not allowed (only tensor rebuilding is)")
        }
        return global
    }

    /// `('storage', <storage type>, key, location, count)`, as `torch.save` writes it.
    private func persistentLoad(_ pid: Value) throws(CheckpointError) -> StorageRef {
        guard case .tuple(let t) = pid, t.values.count == 5, case .string("storage") = t.values[0],
              case .global(.storageType(let dtype)) = t.values[1], case .string(let key) = t.values[2],
              case .string = t.values[3], case .int(let count) = t.values[4], count >= 0
        else { throw malformed("persistent id is not ('storage', <storage type>, key, location, count)") }
        return StorageRef(dtype: dtype, key: key, count: count)
    }

    private func reduce(_ callable: Value, _ args: Value) throws(CheckpointError) -> Value {
        guard case .global(let function) = callable else { throw forbidden("REDUCE on a \(callable.kind), not an allowed global") }
        guard case .tuple(let a) = args else { throw malformed("REDUCE arguments are a \(args.kind), not a tuple") }
        let v = a.values
        switch function {
        case .orderedDict:
            guard v.isEmpty else { throw malformed("collections.OrderedDict called with arguments") }
            return .dict(Items())
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard v.count == 6 || v.count == 7, case .storage(let storage) = v[0], case .int(let offset) = v[1],
                  let shape = Self.ints(v[2]), let strides = Self.ints(v[3]), shape.count == strides.count,
                  case .bool = v[4], case .dict = v[5]
            else { throw malformed("unexpected arguments to torch._utils._rebuild_tensor_v2: (\(v.map(\.kind).joined(separator: ", ")))") }
            guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
                throw malformed("negative storage offset, size or stride in _rebuild_tensor_v2")
            }
            return .tensor(TensorRef(storage: storage, storageOffset: offset, shape: shape, strides: strides))
        case .rebuildParameter:
            // (data, requires_grad, backward_hooks)
            guard v.count == 3, case .tensor = v[0], case .bool = v[1], case .dict = v[2] else {
                throw malformed("unexpected arguments to torch._utils._rebuild_parameter")
            }
            return v[0]
        case .storageType:
            throw forbidden("calling a storage type is not allowed")
        }
    }

    private static func ints(_ value: Value) -> [Int]? {
        guard case .tuple(let t) = value else { return nil }
        var result: [Int] = []
        for item in t.values {
            guard case .int(let i) = item else { return nil }
            result.append(i)
        }
        return result
    }

    private enum ContainerKind { case list, dict }

    /// Adds items to the list or dict on top of the stack.
    private mutating func extend(_ kind: ContainerKind, with values: [Value]) throws(CheckpointError) {
        let top = try pop()
        var items: Items
        switch (kind, top) {
        case (.list, .list(let i)), (.dict, .dict(let i)): items = i
        default: throw malformed("cannot add items to a \(top.kind)")
        }
        try spend(values.count)
        for value in values { items.depth = max(items.depth, value.depth + 1) }
        guard items.depth <= Self.maxDepth else { throw malformed("nesting deeper than \(Self.maxDepth)") }
        items.values.append(contentsOf: values)
        stack.append(kind == .list ? .list(items) : .dict(items))
    }

    private mutating func items(_ values: [Value]) throws(CheckpointError) -> Items {
        try spend(values.count)
        let depth = 1 + (values.map(\.depth).max() ?? 0)
        guard depth <= Self.maxDepth else { throw malformed("nesting deeper than \(Self.maxDepth)") }
        return Items(values: values, depth: depth)
    }

    private mutating func put(_ index: Int) throws(CheckpointError) {
        guard let top = stack.last else { throw malformed("memoizing an empty stack") }
        try spend(top.width)
        memo[index] = top
    }

    // MARK: Reading

    private mutating func pop() throws(CheckpointError) -> Value {
        guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw malformed("stack underflow at byte \(position - 1)") }
        return value
    }

    private mutating func popMark() throws(CheckpointError) -> [Value] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw malformed("no MARK before byte \(position - 1)") }
        let values = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return values
    }

    private mutating func spend(_ items: Int) throws(CheckpointError) {
        budget -= items
        guard budget >= 0 else { throw malformed("too complex (exceeds the work budget for a \(bytes.count)-byte pickle)") }
    }

    private mutating func byte() throws(CheckpointError) -> UInt8 {
        guard position < bytes.count else { throw truncated("an opcode") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ count: Int) throws(CheckpointError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw truncated("\(count) bytes") }
        defer { position += count }
        return bytes[position..<position + count]
    }

    /// An unsigned little-endian integer of `width` bytes.
    private mutating func integer(_ width: Int) throws(CheckpointError) -> UInt64 {
        try take(width).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    /// A two's-complement little-endian integer of `length` bytes (LONG1/LONG4), at most 64 bits.
    private mutating func long(_ length: Int) throws(CheckpointError) -> Int {
        guard length >= 0, length <= 8 else { throw malformed("integer of \(length) bytes is too large") }
        guard length > 0 else { return 0 }
        let raw = try integer(length)
        let shift = UInt64(64 - 8 * length)
        return Int(Int64(bitPattern: raw << shift) >> Int64(shift))
    }

    private mutating func string(_ length: Int) throws(CheckpointError) -> String {
        guard let s = String(validating: try take(length), as: UTF8.self) else { throw malformed("string is not valid UTF-8 (byte \(position - length))") }
        return s
    }

    private mutating func line() throws(CheckpointError) -> String {
        let start = position
        while true {
            guard position - start <= Self.maxLineLength else { throw malformed("GLOBAL name longer than \(Self.maxLineLength) bytes") }
            if try byte() == 0x0A { break }
        }
        guard let s = String(validating: bytes[start..<position - 1], as: UTF8.self) else { throw malformed("GLOBAL name is not valid UTF-8") }
        return s
    }

    // MARK: Errors

    private func malformed(_ detail: String) -> CheckpointError { .malformedPickle(file: path, detail: detail) }
    private func forbidden(_ detail: String) -> CheckpointError { .forbiddenPickle(file: path, detail: detail) }
    private func truncated(_ what: String) -> CheckpointError {
        .malformedPickle(file: path, detail: "ends at byte \(bytes.count) while reading \(what)")
    }

    private static func opcodeName(_ op: UInt8) -> String {
        let names: [UInt8: String] = [
            0x69: "INST", 0x6F: "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
            0x50: "PERSID", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x6C: "LIST", 0x64: "DICT",
            0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
            0x8E: "BINBYTES8", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
        ]
        let hex = "0x" + String(op, radix: 16, uppercase: true)
        return names[op].map { "\($0) (\(hex))" } ?? hex
    }
}
