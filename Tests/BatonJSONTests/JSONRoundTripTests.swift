import BatonJSON
import Testing

@Suite("JSON round trips through jansson")
struct JSONRoundTripTests {
    @Test(arguments: [
        #"{"a":1,"b":[true,false,null],"c":"x","d":1.5}"#,
        #"[]"#,
        #"{}"#,
        #"[[[[]]]]"#,
        #"{"z":1,"a":2,"m":3}"#,
        #"["\u0000nul inside"]"#,
        #"[9223372036854775807,-9223372036854775808]"#,
        #"["h\u00e9llo","\u65e5\u672c","\ud83d\ude00"]"#,
    ])
    func roundTripIsStable(text: String) throws {
        let value = try JSON.parse(text)
        let again = try JSON.parse(try value.serialized())
        #expect(again == value)
    }

    @Test func objectKeyOrderIsPreserved() throws {
        let value = try JSON.parse(#"{"zebra":1,"apple":2,"mango":3}"#)
        #expect(Array(value.objectValue!.keys) == ["zebra", "apple", "mango"])
        #expect(try value.serializedString() == #"{"zebra":1,"apple":2,"mango":3}"#)
    }

    @Test func outputIsOneCompactLineEvenWithNewlinesInStrings() throws {
        let value: JSON = ["text": "line one\nline two\r\n", "nested": ["a\nb"]]
        let line = try value.serializedString()
        #expect(!line.contains("\n"))
        #expect(!line.contains("\r"))
        #expect(line == #"{"text":"line one\nline two\r\n","nested":["a\nb"]}"#)
        #expect(try JSON.parse(line) == value)
    }

    @Test func unicodeSurvivesBothWays() throws {
        let text = "naïve 日本語 😀 \u{0}"
        let line = try JSON.string(text).serialized()
        #expect(try JSON.parse(line, options: .init(allowScalarRoot: true)) == .string(text))
    }

    @Test func bigIntegersAtTheEdgesOf64Bits() throws {
        let value = try JSON.parse("[9223372036854775807,-9223372036854775808,0]")
        #expect(value == [.int(.max), .int(.min), 0])
        #expect(try value.serializedString() == "[9223372036854775807,-9223372036854775808,0]")
    }

    @Test func realsKeepTheirValue() throws {
        let values: [Double] = [0.1, -2.5e-300, 1.7976931348623157e308, 3.0]
        for number in values {
            let parsed = try JSON.parse(try JSON.array([.real(number)]).serialized())
            #expect(parsed == [.real(number)])
        }
    }

    @Test func scalarRootOnlyWhenAskedFor() throws {
        #expect(throws: JSONParseError.self) { try JSON.parse("42") }
        #expect(try JSON.parse("42", options: .init(allowScalarRoot: true)) == 42)
        #expect(try JSON.parse(#""x""#, options: .init(allowScalarRoot: true)) == "x")
        #expect(try JSON.string("x").serializedString() == #""x""#)
    }

    @Test func emptyStringsAndKeys() throws {
        let value: JSON = ["": ""]
        #expect(try value.serializedString() == #"{"":""}"#)
        #expect(try JSON.parse(#"{"":""}"#) == value)
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = JSONParseOptions.defaultMaxDepth
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try JSON.parse(text)
        var levels = 1
        while case .array(let inner) = value, let first = inner.first {
            value = first
            levels += 1
        }
        #expect(levels == depth)
    }
}
