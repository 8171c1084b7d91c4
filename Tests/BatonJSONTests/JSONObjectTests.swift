import BatonJSON
import Testing

@Suite("JSON objects")
struct JSONObjectTests {
    @Test func equalityIgnoresMemberOrderAsJSONDoes() throws {
        let first = try JSON.parse(#"{"a":1,"b":[2]}"#)
        let second = try JSON.parse(#"{"b":[2],"a":1}"#)
        #expect(first == second)
        #expect(first.hashValue == second.hashValue)
        #expect(first != (try JSON.parse(#"{"a":1,"b":[3]}"#)))
        #expect(first != (try JSON.parse(#"{"a":1}"#)))
    }

    @Test func settingReplacesInPlaceAndNilRemoves() {
        var object: JSONObject = ["x": 1, "y": 2]
        object["x"] = 10
        object["z"] = 3
        #expect(object.keys == ["x", "y", "z"])
        #expect(object["x"] == 10)
        object["y"] = nil
        #expect(object.keys == ["x", "z"])
        #expect(object["missing"] == nil)
    }

    @Test func aRepeatedKeyInALiteralKeepsTheLastValue() throws {
        let object = JSONObject([("k", 1), ("k", 2)])
        #expect(object.count == 1)
        #expect(try JSON.object(object).serializedString() == #"{"k":2}"#)
    }
}
