// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "peertube-updater",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PeerTubeUpdater", targets: ["PeerTubeUpdater"]),
        .executable(name: "peertube-updater", targets: ["peertube-updater"]),
        .executable(name: "updater-bench", targets: ["updater-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
        // serve's HTTP server: Hummingbird's core on SwiftNIO, with swift-service-lifecycle's shutdown.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // OpenBLAS's CBLAS (Debian's libopenblas-dev): the MiniLM forward pass runs on its sgemm.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // libcurl (Debian's libcurl4-openssl-dev): the crawler's HTTP client.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // FAISS (Debian's libfaiss-dev ships C++ only): a small extern "C" shim over what we use.
        .target(
            name: "CFaissShim",
            linkerSettings: [
                .linkedLibrary("faiss"), .linkedLibrary("gomp"), .linkedLibrary("blas"),
                .linkedLibrary("lapack"), .linkedLibrary("m"),
            ]
        ),
        // Test only: the CUDA kernels of Device/kernels.cu compiled as C++ and run on the CPU, each
        // warp's lanes in lockstep (`make test` checks every kernel's code against its host reference).
        .target(name: "CKernelEmulator"),
        // All production code: storage, stages, worker.
        .target(
            name: "PeerTubeUpdater",
            dependencies: [
                "COpenBLAS",
                "CFaissShim",
                "CCurl",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.embedInCode("Merge/merge_rules.json"), .embedInCode("Merge/refresh_rules.json"), .embedInCode("Device/kernels.cu")],
            // Optimised in debug builds too: the tests and the smoke suite run the real model and
            // FAISS pipelines, which are 5x slower unoptimised (15 vs 73 texts/s).
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // How the package's HTTP servers are made: HTTPService (Hummingbird on SwiftNIO, with request
        // limits, for serve) and FlyingFox without Nagle's delay (the simulated federation, the whitelist server).
        .target(
            name: "HTTPServing",
            dependencies: [
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `serve`: the read API over prod, the similarity cache and the ANN index, switching to each
        // newly published generation without a restart.
        .target(
            name: "PeerTubeServe",
            dependencies: [
                "PeerTubeUpdater",
                "HTTPServing",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Optimised in debug builds too, as the library: the tests load it.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // The simulated PeerTube federation: a seeded corpus served on loopback with PeerTube's API
        // rules and switchable faults (tests, the smoke suite, `sim serve`).
        .target(
            name: "PeerTubeSimulator",
            dependencies: [
                "PeerTubeUpdater",
                "HTTPServing",
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"),
            ]
        ),
        // The smoke suite's parts (DESIGN §3): options, fixture, worker process, checks, report. A
        // library so the Smoke test target, the tests of its checks and `make smoke-help` share them.
        .target(
            name: "SmokeHarness",
            dependencies: [
                "PeerTubeUpdater",
                "HTTPServing",
                "PeerTubeSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `make smoke-help`: prints the flags SMOKE_ARGS accepts.
        .executableTarget(name: "smoke-help", dependencies: ["SmokeHarness"]),
        // Thin CLI over the library.
        .executableTarget(
            name: "peertube-updater",
            dependencies: [
                "PeerTubeUpdater",
                "PeerTubeServe",
                "PeerTubeSimulator",
                "SmokeHarness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `make bench`: prints throughput figures (medians of several runs).
        .executableTarget(
            name: "updater-bench",
            dependencies: [
                "SmokeHarness",
                "PeerTubeServe",
                "PeerTubeUpdater",
                "PeerTubeSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PeerTubeUpdaterTests",
            dependencies: [
                "PeerTubeUpdater",
                "CKernelEmulator",
                "HTTPServing",
                "PeerTubeServe",
                "PeerTubeSimulator",
                "SmokeHarness",
                "peertube-updater",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Issue 8 §1: the worker killed with SIGKILL at many points, then run again (short list in
        // `make test`, long list in `make test-crash`).
        .testTarget(
            name: "CrashSweepTests",
            dependencies: [
                "SmokeHarness", "PeerTubeUpdater", "peertube-updater",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `swift test --filter Smoke`: the whole worker as a child process against a mini-prod and the
        // simulated federation, with the failure scenarios and last-report.json.
        .testTarget(
            name: "SmokeTests",
            dependencies: ["SmokeHarness", "PeerTubeUpdater", "peertube-updater"]
        ),
    ],
    cxxLanguageStandard: .cxx17
)
