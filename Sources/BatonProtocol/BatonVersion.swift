/// The version this build of Baton reports to clients and in `baton --version`.
public enum BatonVersion {
    public static let string = "0.1.0"
}
