/// What the cluster's store needs of etcd: reads and transactions. `EtcdClient` speaks them
/// to a real etcd; the cluster simulation answers them from its own.
public protocol EtcdKV: Sendable {
    func get(_ keys: EtcdKeys, options: EtcdRangeOptions) async throws(EtcdError) -> EtcdRange

    /// Runs `success` when every comparison holds, `failure` otherwise, atomically.
    func txn(
        when compares: [EtcdCompare],
        then success: [EtcdOperation],
        else failure: [EtcdOperation]
    ) async throws(EtcdError) -> EtcdTxnResult
}

extension EtcdClient: EtcdKV {}
