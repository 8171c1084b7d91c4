/// A numeric setting, by the name its errors quote: flags and the config file set it the
/// same way.
public struct NumericSetting<Configuration>: Sendable {
    public var minimum: Int64
    public var apply: @Sendable (inout Configuration, Int64) -> Void

    public init(minimum: Int64, apply: @escaping @Sendable (inout Configuration, Int64) -> Void) {
        self.minimum = minimum
        self.apply = apply
    }
}
