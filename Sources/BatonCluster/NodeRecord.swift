import BatonCore
import BatonJSON
import BatonProtocol

/// What a node says of itself under `node/<node>` on its lease (docs/cluster.md, "Keys"): its
/// name, Baton's version, and the requests in flight through its ingress, by app.
public struct NodeRecord: Sendable, Hashable {
    public var node: String
    public var version = BatonVersion.string
    public var inFlight: [AppName: Int] = [:]

    public init(node: String, inFlight: [AppName: Int] = [:]) {
        self.node = node
        self.inFlight = inFlight
    }

    package var json: JSON {
        let apps = inFlight.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        return [
            "node": .string(node), "version": .string(version),
            "inFlight": .object(JSONObject(apps.map { ($0.key.rawValue, JSON.int(Int64($0.value))) })),
        ]
    }

    package init(_ json: JSON) throws(StoredRecordJSON.Unreadable) {
        guard let node = json["node"]?.stringValue, let version = json["version"]?.stringValue else {
            throw StoredRecordJSON.Unreadable(description: "a node record without node or version: \(json)")
        }
        self.node = node
        self.version = version
        for (app, count) in json["inFlight"]?.objectValue ?? [:] {
            inFlight[AppName(rawValue: app)] = Int(count.intValue ?? 0)
        }
    }
}
