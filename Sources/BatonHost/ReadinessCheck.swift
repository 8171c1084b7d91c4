import BatonCore
import BatonProbe

// The network probe is the host's readiness check; the probe module knows nothing of the core.
extension NetworkReadinessProbe: ReadinessProbe {}
