/// Which bytes the grammar of RFC 9110 §5.6 allows where; one table lookup per byte.
enum ByteClass {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")

    /// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private static let tokenTable: [Bool] = (0..<256).map { byte in
        let byte = UInt8(byte)
        if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { return true }
        if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) { return true }
        if (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) { return true }
        return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }

    @inline(__always) static func isToken(_ byte: UInt8) -> Bool { tokenTable[Int(byte)] }

    /// field-vchar / SP / HTAB: VCHAR and obs-text; every control character but HTAB is out.
    @inline(__always) static func isFieldContent(_ byte: UInt8) -> Bool {
        byte == tab || (byte >= 0x20 && byte != 0x7F)
    }

    /// What a request target may hold: VCHAR only (RFC 3986 has no room for more).
    @inline(__always) static func isTargetByte(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }

    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }
}
