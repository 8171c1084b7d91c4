import BatonHost
import Glibc
import Testing

@Suite("Default socket location")
struct SocketLocationTests {
    @Test func batonSocketWins() {
        #expect(SocketLocation.defaultPath(environment: ["BATON_SOCKET": "/x/y.sock", "XDG_RUNTIME_DIR": "/run/user/1"]) == "/x/y.sock")
    }

    @Test func runtimeDirectoryIsNext() {
        #expect(SocketLocation.defaultPath(environment: ["XDG_RUNTIME_DIR": "/run/user/1"]) == "/run/user/1/baton/baton.sock")
    }

    @Test func otherwiseAPerUserDirectoryInTmp() {
        #expect(SocketLocation.defaultPath(environment: [:]) == "/tmp/baton-\(getuid())/baton.sock")
    }
}
