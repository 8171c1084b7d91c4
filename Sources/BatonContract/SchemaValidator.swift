import BatonJSON
import Foundation

/// Checks JSON against the protocol's schemas (`protocol/schemas`, JSON Schema draft
/// 2020-12). It implements the keywords those schemas use: type, enum, const, properties,
/// required, additionalProperties, items, minimum, maximum, maxItems, maxProperties,
/// pattern, anyOf and $ref (within a file or to another file of the directory).
public struct SchemaValidator: Sendable {
    public let schemas: [String: JSON]

    public init(directory: String) throws {
        var schemas: [String: JSON] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".schema.json")
        {
            guard let data = FileManager.default.contents(atPath: directory + "/" + file) else { continue }
            schemas[file] = try JSON.parse(data)
        }
        self.schemas = schemas
    }

    /// The problems of `value` against the schema in `file`; empty when it is valid.
    public func problems(_ value: JSON?, file: String) -> [String] {
        guard let schema = schemas[file] else { return ["no schema \(file)"] }
        var found: [String] = []
        check(value, against: schema, file: file, path: "$", into: &found)
        return found
    }

    private func check(_ value: JSON?, against schema: JSON, file: String, path: String, into found: inout [String]) {
        if let reference = schema["$ref"]?.stringValue {
            guard let (target, targetFile) = resolve(reference, from: file) else {
                return found.append("\(path): cannot resolve \(reference)")
            }
            check(value, against: target, file: targetFile, path: path, into: &found)
        }
        if let options = schema["anyOf"]?.arrayValue {
            let fits = options.contains { option in
                var trial: [String] = []
                check(value, against: option, file: file, path: path, into: &trial)
                return trial.isEmpty
            }
            if !fits { found.append("\(path): matches none of anyOf") }
        }
        guard let value else {
            if schema["type"] != nil { found.append("\(path): missing") }
            return
        }
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !allowed.contains(where: { Self.isOfType(value, $0) }) {
                return found.append("\(path): \(value.typeName), not \(allowed.joined(separator: " or "))")
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            found.append(
                "\(path): \((try? value.serializedString()) ?? "?") is not one of \((try? JSON.array(options).serializedString()) ?? "?")"
            )
        }
        if let constant = schema["const"], constant != value {
            found.append("\(path): must be \((try? constant.serializedString()) ?? "?")")
        }
        if let minimum = schema["minimum"]?.intValue, let number = value.intValue, number < minimum {
            found.append("\(path): below \(minimum)")
        }
        if let maximum = schema["maximum"]?.intValue, let number = value.intValue, number > maximum {
            found.append("\(path): above \(maximum)")
        }
        if let pattern = schema["pattern"]?.stringValue, let text = value.stringValue, let regex = try? Regex(pattern),
            (try? regex.firstMatch(in: text)) == nil
        {
            found.append("\(path): does not match \(pattern)")
        }
        if let items = value.arrayValue {
            if let most = schema["maxItems"]?.intValue, items.count > most {
                found.append("\(path): more than \(most) items")
            }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    check(item, against: itemSchema, file: file, path: "\(path)[\(index)]", into: &found)
                }
            }
        }
        if let object = value.objectValue {
            if let most = schema["maxProperties"]?.intValue, object.count > most {
                found.append("\(path): more than \(most) members")
            }
            let properties = schema["properties"]?.objectValue ?? JSONObject()
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            where object[required] == nil {
                found.append("\(path).\(required): required but missing")
            }
            for member in object.members {
                if let propertySchema = properties[member.key] {
                    check(
                        member.value,
                        against: propertySchema,
                        file: file,
                        path: "\(path).\(member.key)",
                        into: &found
                    )
                } else if let extra = schema["additionalProperties"] {
                    if extra == .bool(false) {
                        found.append("\(path).\(member.key): not in the schema")
                    } else if extra.objectValue != nil {
                        check(member.value, against: extra, file: file, path: "\(path).\(member.key)", into: &found)
                    }
                }
            }
        }
    }

    private func resolve(_ reference: String, from file: String) -> (JSON, String)? {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let targetFile = parts[0].isEmpty ? file : String(parts[0])
        guard var node = schemas[targetFile] else { return nil }
        if parts.count > 1 {
            for key in parts[1].split(separator: "/") {
                guard let next = node[String(key)] else { return nil }
                node = next
            }
        }
        return (node, targetFile)
    }

    private static func isOfType(_ value: JSON, _ type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
            ("integer", .int), ("number", .int),
            ("number", .real):
            true
        default: false
        }
    }
}
