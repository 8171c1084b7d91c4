import BatonJSON

/// A deploy of examples/hello; `marker` is passed as an extra argument so a test can find
/// its processes.
func hello(
    _ version: String,
    instances: Int = 2,
    marker: String,
    command: [String]? = nil,
    drainTimeoutMs: Int64 = 5_000,
    env: [String: String] = [:]
) -> JSON {
    let argv = command ?? ["python3", "-u", BatonProcess.repositoryPath("examples/hello/app.py"), marker]
    return [
        "app": "hello", "version": .string(version), "readyTimeoutMs": 20_000, "drainTimeoutMs": .int(drainTimeoutMs),
        "services": [
            [
                "name": "web", "instances": .int(Int64(instances)), "health": ["path": "/healthz"],
                "spec": [
                    "command": .string(argv[0]), "args": .array(argv.dropFirst().map(JSON.string)),
                    "env": .object(
                        JSONObject(
                            env.merging(["VERSION": version]) { $1 }.sorted { $0.key < $1.key }.map {
                                ($0.key, JSON.string($0.value))
                            }
                        )
                    ), "graceMs": 2_000,
                ],
            ]
        ],
    ]
}
