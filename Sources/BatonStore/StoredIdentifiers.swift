import BatonCore
import GRDB

// Identifiers are stored as their raw strings (GRDB's RawRepresentable support).
extension Identifier: DatabaseValueConvertible {}
