import BatonJSON
import Testing

@Suite("JSON errors name the problem and its place")
struct JSONErrorTests {
    private func parseError(_ bytes: [UInt8], options: JSONParseOptions = .init()) -> JSONParseError? {
        do {
            _ = try JSON.parse(bytes, options: options)
            return nil
        } catch {
            return error
        }
    }

    private func parseError(_ text: String) -> JSONParseError? { parseError(Array(text.utf8)) }

    @Test func syntaxErrorHasLineColumnAndPosition() throws {
        let error = try #require(parseError(#"{"a":1,]"#))
        #expect(error.line == 1)
        #expect(error.column == 8)
        #expect(error.position == 8)
        #expect(error.text.contains("expected"))
        #expect(error.description.contains("line 1, column 8, position 8"))
    }

    @Test func errorOnASecondLine() throws {
        let error = try #require(parseError("{\n\"a\": tru}"))
        #expect(error.line == 2)
    }

    @Test func duplicateKeysAreRejected() throws {
        let error = try #require(parseError(#"{"a":1,"a":2}"#))
        #expect(error.text.contains("duplicate"))
    }

    @Test func invalidUTF8IsRejected() throws {
        let bytes: [UInt8] = Array(#"[""#.utf8) + [0xFF, 0xFE] + Array(#""]"#.utf8)
        let error = try #require(parseError(bytes))
        #expect(error.text.contains("decode byte"))
        #expect(error.position == 2)
    }

    @Test func overlongUTF8AndLoneSurrogatesAreRejected() {
        #expect(parseError(Array(#"[""#.utf8) + [0xC0, 0xAF] + Array(#""]"#.utf8)) != nil)
        #expect(parseError(#"["\ud800"]"#) != nil)
    }

    @Test(arguments: ["[NaN]", "[Infinity]", "[-Infinity]", "[1e400]", "[nan]"])
    func nonFiniteNumbersAreRejected(text: String) {
        #expect(parseError(text) != nil)
    }

    @Test func integersBeyond64BitsAreRejected() throws {
        let error = try #require(parseError("[9223372036854775808]"))
        #expect(error.text.contains("too big integer"))
        #expect(parseError("[-9223372036854775809]") != nil)
    }

    @Test func overDeepNestingIsRejectedWhereItHappens() throws {
        let text = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let error = try #require(parseError(text))
        #expect(error.text == "nesting deeper than 128 levels")
        #expect(error.position == 129)
        let tight = parseError(Array("[[[]]]".utf8), options: .init(maxDepth: 2))
        #expect(tight?.position == 3)
    }

    @Test func bracketsInsideStringsDoNotCountAsNesting() throws {
        let text = #"[""# + String(repeating: "[", count: 500) + #"\""]"#
        #expect(parseError(text) == nil)
    }

    @Test func trailingGarbageIsRejected() {
        #expect(parseError(#"{"a":1} x"#) != nil)
        #expect(parseError(#"{"a":1}{"b":2}"#) != nil)
    }

    @Test func emptyInputAndRawControlCharacters() {
        #expect(parseError("") != nil)
        #expect(parseError("   ") != nil)
        #expect(parseError("[\"a\u{1}b\"]") != nil)
    }

    @Test func nonFiniteRealsCannotBeSerialized() {
        #expect(throws: JSONEncodeError.nonFiniteReal(.infinity)) { try JSON.array([.real(.infinity)]).serialized() }
        #expect(throws: JSONEncodeError.self) { try JSON.object(["x": .real(.nan)]).serialized() }
    }
}
