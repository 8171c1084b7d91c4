import BatonJSON

/// An etcd lease's id; etcd writes it as a decimal string in JSON.
public struct EtcdLeaseID: Sendable, Hashable, CustomStringConvertible {
    public var value: Int64

    public init(_ value: Int64) {
        self.value = value
    }

    /// As etcd's own tools print it, and as election keys name it.
    public var description: String { String(value, radix: 16) }
}

/// One key as etcd keeps it.
public struct EtcdKeyValue: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    /// The revision that created the key; an election's order.
    public var createRevision: Int64
    /// The revision of its last change.
    public var modRevision: Int64
    /// The lease the key is attached to, if any.
    public var lease: EtcdLeaseID?

    public init(key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, lease: EtcdLeaseID? = nil) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.lease = lease
    }
}

/// A read: the keys, and the store's revision the read saw.
public struct EtcdRange: Sendable, Hashable {
    public var revision: Int64
    public var kvs: [EtcdKeyValue]

    package init(revision: Int64, kvs: [EtcdKeyValue]) {
        self.revision = revision
        self.kvs = kvs
    }
}

/// Which keys a read, delete or watch covers.
public enum EtcdKeys: Sendable, Hashable {
    case key(String)
    /// Every key that starts with the string.
    case prefix(String)
}

/// A read's order and bounds; etcd's election recipe finds the key just before its own with them.
public struct EtcdRangeOptions: Sendable, Hashable {
    public var limit: Int64?
    /// Only keys created at or before this revision.
    public var maxCreateRevision: Int64?
    public var order: Order?
    /// Read the store as it was at this revision.
    public var revision: Int64?

    public enum Order: Sendable, Hashable {
        case createRevisionAscending
        case createRevisionDescending
    }

    public init(limit: Int64? = nil, maxCreateRevision: Int64? = nil, order: Order? = nil, revision: Int64? = nil) {
        self.limit = limit
        self.maxCreateRevision = maxCreateRevision
        self.order = order
        self.revision = revision
    }
}

/// A transaction's condition on one key.
public enum EtcdCompare: Sendable, Hashable {
    /// The key's create revision is this; 0 means the key does not exist.
    case createRevision(String, equals: Int64)
    /// The key's last change was at this revision; 0 means the key does not exist.
    case modRevision(String, equals: Int64)
    case value(String, equals: [UInt8])
}

/// One operation of a transaction.
public enum EtcdOperation: Sendable, Hashable {
    case put(String, [UInt8], lease: EtcdLeaseID? = nil)
    case delete(EtcdKeys)
    case get(EtcdKeys)
}

/// A transaction's outcome: which branch ran, at what revision, and what its reads found,
/// in the order of its `get` operations.
public struct EtcdTxnResult: Sendable, Hashable {
    public var succeeded: Bool
    public var revision: Int64
    public var reads: [EtcdRange]

    package init(succeeded: Bool, revision: Int64, reads: [EtcdRange]) {
        self.succeeded = succeeded
        self.revision = revision
        self.reads = reads
    }
}

/// A change a watch saw.
public struct EtcdEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case put
        case delete
    }

    public var kind: Kind
    /// For a delete, the key and the revision of the delete; the value is empty.
    public var kv: EtcdKeyValue

    package init(kind: Kind, kv: EtcdKeyValue) {
        self.kind = kind
        self.kv = kv
    }
}

/// The changes of one revision or more, in order; the revision is the store's after them.
public struct EtcdWatchBatch: Sendable, Hashable {
    public var revision: Int64
    public var events: [EtcdEvent]
}
