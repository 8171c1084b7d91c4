// swift-tools-version:6.2
import PackageDescription

// Our own targets build with every warning as an error and explicit `any`.
let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
        .executable(name: "baton-process-scheduler", targets: ["baton-process-scheduler"]),
        .library(name: "BatonJSON", targets: ["BatonJSON"]),
        .library(name: "BatonRPC", targets: ["BatonRPC"]),
        .library(name: "BatonCore", targets: ["BatonCore"]),
        .library(name: "BatonHost", targets: ["BatonHost"]),
        .library(name: "BatonClient", targets: ["BatonClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"])]
        ),
        .target(
            name: "BatonJSON",
            dependencies: ["CJansson"],
            swiftSettings: strict
        ),
        .target(
            name: "BatonRPC",
            dependencies: [
                "BatonJSON",
                "BatonListening",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // etcd's JSON gateway over SwiftNIO's HTTP client, JSON through jansson (docs/cluster.md).
        .target(
            name: "BatonEtcd",
            dependencies: [
                "BatonJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // A node of a cluster: the launcher's store in etcd, and what the nodes share (docs/cluster.md).
        .target(
            name: "BatonCluster",
            dependencies: [
                "BatonCore", "BatonEtcd", "BatonJSON", "BatonProtocol", "BatonRPC",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonHTTP1",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // Reads a corpus through the HTTP/1.1 decoder; built with libFuzzer by scripts/fuzz-http1.
        .executableTarget(
            name: "baton-fuzz-http1",
            dependencies: ["BatonHTTP1", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/HTTP1",
            exclude: ["corpus"],
            swiftSettings: strict
        ),
        .target(
            name: "BatonListening",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonProtocol",
            dependencies: ["BatonJSON", "BatonRPC"],
            swiftSettings: strict
        ),
        .target(
            name: "BatonCore",
            dependencies: [
                "BatonJSON",
                "BatonProtocol",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Certificates over ACME (RFC 8555, HTTP-01) for routes with `tls: "acme"` (README "HTTPS").
        .target(
            name: "BatonACME",
            dependencies: [
                "BatonCore", "BatonJSON", "BatonProtocol", "BatonTLS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // HTTPS: certificates by SNI, reloaded from disk (docs in README "HTTPS").
        .target(
            name: "BatonTLS",
            dependencies: [
                "BatonProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonIngress",
            dependencies: [
                "BatonCore",
                "BatonHTTP1",
                "BatonListening",
                "BatonTLS",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonHost",
            dependencies: [
                "BatonACME",
                "BatonCluster",
                "BatonListening",
                "BatonProtocol",
                "BatonProbe",
                "BatonPlugins",
                "BatonJSON",
                "BatonRPC",
                "BatonCore",
                "BatonIngress",
                "BatonStore",
                "BatonTLS",
                "CFileDescriptorPassing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(name: "CFileDescriptorPassing"),
        .target(
            name: "BatonStore",
            dependencies: [
                "BatonCore",
                "BatonJSON",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonAdmin",
            dependencies: ["BatonClient", "BatonProtocol", "BatonJSON", "BatonRPC"],
            swiftSettings: strict
        ),
        .target(
            name: "BatonClient",
            dependencies: [
                "BatonProtocol",
                "BatonJSON",
                "BatonRPC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonProbe",
            dependencies: [
                "BatonProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonContract",
            dependencies: [
                "BatonJSON",
                "BatonProtocol",
                "BatonLoad",
                "BatonRPC",
                "BatonPlugins",
                "CPidfd",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(name: "CPidfd"),
        .target(
            name: "BatonLoad",
            dependencies: [
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonPlugins",
            dependencies: [
                "BatonJSON",
                "BatonRPC",
                "BatonProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "baton-process-scheduler",
            dependencies: [
                "BatonClient",
                "BatonJSON",
                "BatonRPC",
                "BatonProtocol",
                "BatonProbe",
                "BatonPlugins",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "plugins/process-scheduler",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "baton",
            dependencies: [
                "BatonACME",
                "BatonAdmin",
                "BatonProtocol",
                "BatonContract",
                "BatonLoad",
                "BatonPlugins",
                "BatonCore",
                "baton-process-scheduler",  // the embedded default scheduler, run next to it
                "BatonJSON",
                "BatonRPC",
                "BatonHost",
                "BatonIngress",
                "BatonTLS",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "BatonSimulation",
            dependencies: [
                "BatonCore",
                "BatonCluster",
                "BatonEtcd",
                "BatonRPC",
                "BatonProtocol",
                "BatonIngress",
                "BatonJSON",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "baton-example-scheduler",
            dependencies: [
                "BatonClient",
                "BatonPlugins",
                "BatonProbe",
                "BatonProtocol",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/swift-scheduler",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "baton-simulate",
            dependencies: [
                "BatonSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "baton-bench-nio-floor",
            dependencies: [
                "BatonContract",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "scripts/bench/nio-floor",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "baton-bench-rollover",
            dependencies: [
                "BatonAdmin",
                "BatonJSON",
                "BatonLoad",
                "BatonPlugins",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "scripts/bench/rollover",
            swiftSettings: strict
        ),
        .target(
            name: "BatonTestSupport",
            dependencies: [
                "BatonCore",
                "BatonPlugins",
                "BatonTLS",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/BatonTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonCoreTests",
            dependencies: [
                "BatonTestSupport",
                "BatonSimulation",
                "BatonCore",
                "BatonIngress",
                "BatonProtocol",
                "BatonJSON",
                "BatonStore",
                "BatonPlugins",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "BatonJSONTests", dependencies: ["BatonJSON"], swiftSettings: strict),
        .testTarget(
            name: "BatonACMETests",
            dependencies: [
                "BatonACME", "BatonJSON", "BatonProtocol", "BatonTLS",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonIngressTests",
            dependencies: [
                "BatonIngress", "BatonCore", "BatonHTTP1", "BatonProtocol", "BatonTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),  // real ClientHellos to read
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonClusterTests",
            dependencies: [
                "BatonEtcd", "BatonCluster", "BatonCore", "BatonProtocol", "BatonJSON", "BatonTestSupport",
                "BatonPlugins",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonHTTP1Tests",
            dependencies: [
                "BatonHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),  // the reference the codec is compared with
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonRPCTests",
            dependencies: [
                "BatonTestSupport",
                "BatonJSON",
                "BatonRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatonHostTests",
            dependencies: [
                "BatonACME",
                "BatonTestSupport",
                "BatonClient",
                "BatonJSON",
                "BatonProtocol",
                "BatonRPC",
                "BatonHost",
                "baton",  // built so the tests can run it as a real process
                "baton-process-scheduler",
                "baton-example-scheduler",  // run through the contract kit
                "BatonPlugins",
                "BatonProbe",
                "BatonContract",
                "BatonLoad",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                "BatonIngress",
                "BatonTLS",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
