import BatonJSON

extension ServiceSpec {
    /// What makes two services run the same thing: a pool is shared by every version
    /// whose service has the same identity.
    var poolIdentity: PoolIdentity {
        PoolIdentity(
            service: name,
            spec: spec,
            healthPath: health?.path,
            scheduler: scheduler,
            slotsPerSandbox: slotsPerSandbox
        )
    }
}

/// JSON objects compare equal in any member order, so key order in a spec does not split pools.
struct PoolIdentity: Hashable {
    var service: String
    var spec: JSON
    var healthPath: String?
    var scheduler: String?
    var slotsPerSandbox: Int
}
