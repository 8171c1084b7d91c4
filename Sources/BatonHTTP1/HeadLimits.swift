/// The bounds a parser holds a peer to; each has a setting in the ingress.
public struct HeadLimits: Sendable, Equatable {
    /// Largest head, from its first byte to its empty line; also bounds a trailer section.
    public var maxHeadBytes: Int
    /// Most header fields in one head or trailer section.
    public var maxFields: Int
    /// Longest chunk size line, extensions included.
    public var maxChunkLineBytes: Int

    public init(maxHeadBytes: Int = 64 << 10, maxFields: Int = 100, maxChunkLineBytes: Int = 4096) {
        self.maxHeadBytes = maxHeadBytes
        self.maxFields = maxFields
        self.maxChunkLineBytes = maxChunkLineBytes
    }
}
