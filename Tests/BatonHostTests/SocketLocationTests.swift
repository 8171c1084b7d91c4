import BatonHost
import BatonProtocol
import Glibc
import Testing

@Suite("Default socket location")
struct SocketLocationTests {
    @Test func batonSocketWins() {
        #expect(
            SocketLocation.defaultPath(environment: ["BATON_SOCKET": "/x/y.sock", "XDG_RUNTIME_DIR": "/run/user/1"])
                == "/x/y.sock"
        )
    }

    @Test func runtimeDirectoryIsNext() {
        #expect(
            SocketLocation.defaultPath(environment: ["XDG_RUNTIME_DIR": "/run/user/1"])
                == "/run/user/1/baton/baton.sock"
        )
    }

    @Test func otherwiseAPerUserDirectoryInTmp() {
        #expect(SocketLocation.defaultPath(environment: [:]) == "/tmp/baton-\(getuid())/baton.sock")
    }
}

@Suite("Default state directory")
struct StateLocationTests {
    @Test func rootKeepsItsStateInVarLib() {
        #expect(
            StateLocation.defaultDirectory(environment: ["XDG_STATE_HOME": "/s", "HOME": "/root"], uid: 0)
                == "/var/lib/baton"
        )
    }

    @Test func aUserKeepsItInTheXDGStateHomeOrUnderHome() {
        #expect(
            StateLocation.defaultDirectory(environment: ["XDG_STATE_HOME": "/s", "HOME": "/home/a"], uid: 1000)
                == "/s/baton"
        )
        #expect(
            StateLocation.defaultDirectory(environment: ["XDG_STATE_HOME": "relative", "HOME": "/home/a"], uid: 1000)
                == "/home/a/.local/state/baton"
        )
        #expect(
            StateLocation.defaultDirectory(environment: ["HOME": "/home/a"], uid: 1000) == "/home/a/.local/state/baton"
        )
    }
}
