// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "upsign",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "upsign", targets: ["upsign"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // System libraries, reached only through their Swift wrappers.
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Values of which each thread has its own copy (no lock on the request path).
        .target(name: "PerThread"),
        // Byte classes of ASCII text (digits, letters, printable, hex), each rule written once.
        .target(name: "ASCIIText"),
        // Whole reads and writes with the EINTR rule, and starting threads: the few system calls.
        .target(name: "SystemCalls"),
        // Swift over COpenSSL: HMAC, digests, base64, hex, constant-time compare, random bytes.
        .target(name: "Crypto", dependencies: ["COpenSSL", "PerThread"]),
        // Flat JSON: a strict reader for request bodies and credential files, an escaping writer.
        .target(name: "JSONText", dependencies: ["ASCIIText"]),
        // The pure signing core: policy documents, conditions, key templates, store signers.
        .target(name: "PostPolicy", dependencies: ["ASCIIText", "Crypto", "JSONText", "PerThread"]),
        // CGI request/response values shared by the FastCGI loop and the application.
        .target(name: "CGI", dependencies: ["ASCIIText"]),
        // Small bounded HTTP(S) GETs through libcurl (OSS callback public keys).
        .target(name: "HTTPFetch", dependencies: ["CCurl"]),
        // The libfcgi responder loop: listener, worker threads, shutdown.
        .target(name: "FastCGI", dependencies: ["CFastCGI", "CGI", "SystemCalls"]),
        // Logging: the JSON-lines log handler, request lines, and their batched writer.
        .target(
            name: "LogLines",
            dependencies: ["JSONText", "PerThread", "PostPolicy", "SystemCalls", .product(name: "Logging", package: "swift-log")]),
        // The application: configuration, credentials, profiles, routes, response formats.
        .target(
            name: "Upsign",
            dependencies: [
                "ASCIIText", "CGI", "Crypto", "JSONText", "LogLines", "PostPolicy", "PerThread", "SystemCalls",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The service around the application: config loading (parse probe), reload, live wiring, CGI mode.
        .target(
            name: "UpsignService",
            dependencies: [
                "Upsign", "CGI", "Crypto", "HTTPFetch", "LogLines", "PerThread", "PostPolicy", "SystemCalls",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // @main: the subcommands' argument parsing and the glue that starts the worker.
        .executableTarget(
            name: "upsign",
            dependencies: [
                "FastCGI", "Upsign", "UpsignService", "CGI", "HTTPFetch", "PerThread", "LogLines", "PostPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The signing-core micro-benchmark (Benchmarks/signing.sh runs it in release).
        .executableTarget(name: "upsign-bench", dependencies: ["PostPolicy", "Crypto"], path: "Benchmarks/SigningCore"),

        .testTarget(name: "ASCIITextTests", dependencies: ["ASCIIText"]),
        .testTarget(name: "SystemCallsTests", dependencies: ["SystemCalls"]),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "PerThread"]),
        .testTarget(name: "CGITests", dependencies: ["CGI"]),
        .testTarget(name: "PerThreadTests", dependencies: ["PerThread"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI"]),
        .testTarget(name: "JSONTextTests", dependencies: ["JSONText"]),
        .testTarget(name: "LogLinesTests", dependencies: ["LogLines", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "PostPolicyTests", dependencies: ["PostPolicy", "Crypto", "JSONText", "PerThread"]),
        .testTarget(
            name: "UpsignServiceTests",
            dependencies: ["UpsignService", "Upsign", "PerThread", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "UpsignTests",
            dependencies: ["Upsign", "CGI", "PostPolicy", "Crypto", "JSONText", .product(name: "Logging", package: "swift-log")],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)

// Members of modules a file does not import stay invisible (Foundation, which a dependency
// imports, must not leak into the request path unnoticed).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}

// libFuzzer targets (Fuzz/run.sh builds and runs them): declared only when UPSIGN_FUZZ=1, so a
// plain `swift build` or `swift test` never sees them. Fuzz/run.sh builds each with `--product
// NAME -c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address` (and
// Fuzz/toml_assert.h) in .build-fuzz/; the executables have no main (-parse-as-library):
// libFuzzer's is linked in and calls their LLVMFuzzerTestOneInput.
if Context.environment["UPSIGN_FUZZ"] == "1" {
    let fuzzSettings: [SwiftSetting] = [
        .unsafeFlags(["-parse-as-library"]), .enableUpcomingFeature("MemberImportVisibility"),
    ]
    package.targets += [
        .target(
            name: "FuzzSupport",
            dependencies: ["CGI", "Crypto", "JSONText", "PostPolicy", "Upsign", .product(name: "Logging", package: "swift-log")],
            path: "Fuzz/Support",
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]),
        .executableTarget(
            name: "fuzz-fastcgi-records", dependencies: ["FuzzSupport", "FastCGI", "CFastCGI", "CGI", "Upsign"],
            path: "Fuzz/FastCGIRecords", swiftSettings: fuzzSettings),
        .executableTarget(
            name: "fuzz-request", dependencies: ["FuzzSupport", "Upsign", "CGI"],
            path: "Fuzz/Request", swiftSettings: fuzzSettings),
        .executableTarget(
            name: "fuzz-config", dependencies: ["FuzzSupport", "Upsign", "CGI", "PostPolicy"],
            path: "Fuzz/Config", swiftSettings: fuzzSettings),
        .executableTarget(
            name: "fuzz-callback", dependencies: ["FuzzSupport", "Upsign", "CGI", "Crypto", "COpenSSL"],
            path: "Fuzz/Callback", swiftSettings: fuzzSettings),
    ]
}
