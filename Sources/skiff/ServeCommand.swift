import ArgumentParser
import Foundation
import Logging
import SkiffEngine
import SkiffModelFile
import SkiffModels
import SkiffModelStore
import SkiffServer
import SkiffSizing

/// `skiff serve`: an OpenAI-compatible HTTP server for one model.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over an OpenAI-compatible HTTP API.",
        discussion: """
            Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, POST /tokenize, \
            POST /detokenize, GET /version, GET /health, GET /ready, GET /metrics (Prometheus, vLLM's \
            metric names). Every option can also be set by the environment variable in brackets; an \
            option on the command line wins. SIGTERM drains: /ready turns 503, new requests get 503, \
            in-flight requests get --grace-period seconds to finish, then the process exits 0. \
            A sampling setting a request leaves out takes the value of its option here, else the model \
            file's recommendation (general.sampling.*), else llama.cpp's default; GET /v1/models shows \
            the values in force (sampling_defaults).
            """
    )

    @Option(name: .shortAndLong, help: "A model file, a model in the model directory, or a catalog name [SKIFF_MODEL].")
    var model: String?

    @Option(help: "The model directory (default: $SKIFF_MODEL_DIR, else ~/.cache/skiff/models).")
    var modelDir: String?

    @Option(name: .shortAndLong, help: "Compute threads of the CPU backend (default: one per CPU core) [SKIFF_THREADS].")
    var threads: Int?

    @Option(help: ArgumentHelp("Where to compute: auto (the first Vulkan GPU, else the CPU), cpu, vulkan or vulkan:N [SKIFF_DEVICE].",
                               valueName: "device"))
    var device: String?

    @Option(help: "On a GPU, the share of its memory Skiff takes: weights, scratch and, with all the rest, the KV cache (default 0.9, as vLLM's) [SKIFF_GPU_MEMORY_UTILIZATION].")
    var gpuMemoryUtilization: Double?

    @Option(help: ArgumentHelp("The chat template: chatml, gemma, llama3 or a Jinja file (default: the model file's, else the built-in one whose turn markers its vocabulary has) [SKIFF_CHAT_TEMPLATE].",
                               valueName: "name|file"))
    var chatTemplate: String?

    @Option(help: "The address to listen on (default 127.0.0.1) [SKIFF_HOST].")
    var host: String?

    @Option(help: "The port to listen on (default 8080; 0 picks one) [SKIFF_PORT].")
    var port: Int?

    @Option(help: "The model id clients use (default: the --model name without .gguf) [SKIFF_SERVED_MODEL_NAME].")
    var servedModelName: String?

    @Option(help: "A file of accepted API keys, one per line; also [SKIFF_API_KEYS] (comma-separated). None: no authentication.")
    var apiKeyFile: String?

    @Option(help: "The largest request body in bytes (default 4194304) [SKIFF_MAX_BODY_BYTES].")
    var maxBodyBytes: Int?

    @Option(help: "The most tokens one request may generate (default: up to the context) [SKIFF_MAX_TOKENS_CAP].")
    var maxTokensCap: Int?

    @Option(help: "The longest prompt in tokens, chat template included; longer ones get 400 (default: the context less one) [SKIFF_MAX_PROMPT_TOKENS].")
    var maxPromptTokens: Int?

    @Option(help: "Sequences generated at once (default 16) [SKIFF_MAX_RUNNING].")
    var maxRunning: Int?

    @Option(help: "Requests allowed to wait; more get 429 (default 256) [SKIFF_MAX_WAITING].")
    var maxWaiting: Int?

    @Option(help: "Tokens per engine step (default 512) [SKIFF_MAX_STEP_TOKENS].")
    var maxStepTokens: Int?

    @Option(name: .customLong("ctx"), help: "Context per sequence in tokens (default: the model's) [SKIFF_CTX].")
    var contextLength: Int?

    @Option(help: "KV cache size in bytes (default on the CPU: --max-running sequences at full context, capped by --kv-cache-memory-fraction; on a GPU: what --gpu-memory-utilization leaves) [SKIFF_KV_CACHE_BYTES].")
    var kvCacheBytes: Int?

    @Option(help: "The largest share of available memory the KV cache takes by default (default 0.5) [SKIFF_KV_CACHE_MEMORY_FRACTION].")
    var kvCacheMemoryFraction: Double?

    @Flag(help: "Do not share prompt prefixes between requests [SKIFF_NO_PREFIX_CACHE=1].")
    var noPrefixCache = false

    @Option(help: "Prompt states kept for a state-space model's prefix cache, each one sequence's whole state (default 16) [SKIFF_STATE_SNAPSHOTS].")
    var stateSnapshots: Int?

    @Option(help: "Seconds in-flight requests get to finish after SIGTERM (default 30) [SKIFF_GRACE_PERIOD].")
    var gracePeriod: Double?

    @Option(help: "Seconds one request may take before it ends with 408; 0 for no limit (default 600) [SKIFF_REQUEST_TIMEOUT].")
    var requestTimeout: Double?

    @Option(help: "Log format: text or json (default text) [SKIFF_LOG_FORMAT].")
    var logFormat: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info) [SKIFF_LOG_LEVEL].")
    var logLevel: String?

    @Flag(help: "Let logs contain prompt and completion text (off by default) [SKIFF_LOG_PROMPTS=1].")
    var logPrompts = false

    @Option(help: "Temperature for requests that name none; 0 is greedy (default: the model's, else 0.8) [SKIFF_TEMPERATURE].")
    var temperature: Float?

    @Option(help: "Top-k for requests that name none; 0 disables (default: the model's, else 40) [SKIFF_TOP_K].")
    var topK: Int?

    @Option(help: "Top-p for requests that name none; 1 disables (default: the model's, else 0.95) [SKIFF_TOP_P].")
    var topP: Float?

    @Option(help: "Min-p for requests that name none; 0 disables (default: the model's, else 0.05) [SKIFF_MIN_P].")
    var minP: Float?

    @Option(help: "Presence penalty for requests that name none (default 0) [SKIFF_PRESENCE_PENALTY].")
    var presencePenalty: Float?

    @Option(help: "Frequency penalty for requests that name none (default 0) [SKIFF_FREQUENCY_PENALTY].")
    var frequencyPenalty: Float?

    func run() async throws {
        let settings = try Settings(self)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = settings.jsonLogs ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "skiff.serve")

        var modelOptions = ModelOptions()
        modelOptions.model = settings.model
        modelOptions.modelDir = modelDir
        modelOptions.threads = settings.threads
        modelOptions.chatTemplate = settings.chatTemplate
        // The HTTP server listens (and answers /health) while this loads the model and sizes the KV cache.
        let load: @Sendable () throws -> InferenceEngine = { [modelOptions] in
            let loaded = try modelOptions.load(quiet: settings.jsonLogs, for: settings.device)
            let context = min(settings.contextLength ?? loaded.contextLength, loaded.contextLength)
            // On a GPU the cache takes what --gpu-memory-utilization of its memory leaves after the weights and the
            // runner's scratch (vLLM's rule); on the CPU, a share of the memory the kernel reports available.
            var deviceBudget: Int?
            if let memory = settings.device.memoryBytes {
                let usable = Int(Double(memory) * settings.gpuMemoryUtilization)
                let scratch = loaded.deviceScratch.bytes(maxBatchTokens: settings.maxStepTokens)
                deviceBudget = usable - loaded.storedWeightBytes - scratch
                logger.info("device memory", metadata: [
                    "device": "\(settings.device.summary)", "memory_bytes": "\(memory)",
                    "gpu_memory_utilization": "\(settings.gpuMemoryUtilization)", "usable_bytes": "\(usable)",
                    "weights_bytes": "\(loaded.storedWeightBytes)", "scratch_bytes": "\(scratch)", "cache_budget_bytes": "\(deviceBudget!)",
                ])
            }
            let plan = try KVCachePlan(
                layout: loaded.cacheLayout, bytesPerElement: KVCacheStorage.bytesPerElement, stateBytesPerElement: RecurrentStateStorage.bytesPerElement, contextLength: context, maxRunning: settings.maxRunning,
                stateSnapshots: settings.noPrefixCache ? 0 : settings.stateSnapshots, stepTokens: settings.maxStepTokens,
                explicitBytes: settings.kvCacheBytes, memoryFraction: settings.kvCacheMemoryFraction,
                availableMemoryBytes: KVCachePlan.availableMemoryBytes(), deviceBudgetBytes: deviceBudget)
            logger.info("\(plan.summary)", metadata: [
                "kv.bytes_per_token": "\(plan.bytesPerToken)", "kv.blocks": "\(plan.blocks)", "kv.block_size": "\(plan.blockSize)",
                "kv.bytes": "\(plan.bytes)", "kv.full_context_sequences": "\(plan.fullContextSequences)",
                "state.bytes_per_sequence": "\(plan.stateBytesPerSequence)", "state.slots": "\(plan.stateSlots)",
            ])
            var configuration = EngineConfiguration(
                threads: settings.threads, maxStepTokens: settings.maxStepTokens, maxRunning: settings.maxRunning,
                maxWaiting: settings.maxWaiting, contextLength: context, cacheBlocks: plan.blocks,
                blockSize: plan.blockSize, prefixCaching: !settings.noPrefixCache, stateSnapshots: settings.stateSnapshots,
                residentCache: true)
            configuration.device = settings.device
            let engine = try InferenceEngine(model: loaded, configuration: configuration)
            logger.info("model", metadata: ["architecture": "\(loaded.architecture)", "chat_template": "\(loaded.chatTemplateOrigin)"])
            let recommendation = loaded.samplingRecommendation
            let sampling = recommendation.defaults(overriddenBy: settings.sampling)
            logger.info("sampling defaults", metadata: [
                "temperature": "\(sampling.temperature)", "top_k": "\(sampling.topK)", "top_p": "\(sampling.topP)",
                "min_p": "\(sampling.minP)", "presence_penalty": "\(sampling.presencePenalty)",
                "frequency_penalty": "\(sampling.frequencyPenalty)",
                "model_recommends": "\(recommendation.settings)", "server_sets": "\(settings.sampling)",
            ])
            for (key, value) in recommendation.notApplied {
                logger.warning("the model file recommends a sampling setting Skiff does not implement; not applied",
                               metadata: ["key": "\(key)", "value": "\(value)"])
            }
            logger.info("model loaded", metadata: [
                "model": "\(loaded.name)", "served_model_name": "\(settings.servedModelName)", "context": "\(context)",
                "device": "\(settings.device.summary)", "threads": "\(settings.threads)", "max_running": "\(settings.maxRunning)", "max_waiting": "\(settings.maxWaiting)",
                "prefix_cache": "\(engine.prefixCaching)", "api_keys": "\(settings.apiKeys.count)",
            ])
            return engine
        }

        let server = InferenceServer(engine: .load(load), configuration: ServerConfiguration(
            host: settings.host, port: settings.port, servedModelName: settings.servedModelName, apiKeys: settings.apiKeys,
            maxBodyBytes: settings.maxBodyBytes, maxTokensCap: settings.maxTokensCap,
            maxPromptTokens: settings.maxPromptTokens,
            gracePeriod: .milliseconds(Int(settings.gracePeriod * 1000)),
            requestTimeout: settings.requestTimeout > 0 ? .milliseconds(Int(settings.requestTimeout * 1000)) : nil,
            logPrompts: settings.logPrompts,
            version: SkiffVersion.current, sampling: settings.sampling), logger: logger)
        try await server.runService()
        logger.info("stopped")
    }

    /// The options after the environment filled in what the command line left out, checked.
    private struct Settings {
        var model: String
        var threads: Int
        var device: ComputeDevice
        var gpuMemoryUtilization: Double
        var host: String
        var port: Int
        var servedModelName: String
        var apiKeys: [String]
        var maxBodyBytes: Int
        var maxTokensCap: Int?
        var maxPromptTokens: Int?
        var maxRunning: Int
        var maxWaiting: Int
        var maxStepTokens: Int
        var contextLength: Int?
        var kvCacheBytes: Int?
        var kvCacheMemoryFraction: Double
        var noPrefixCache: Bool
        var stateSnapshots: Int
        var gracePeriod: Double
        var requestTimeout: Double
        var jsonLogs: Bool
        var logLevel: Logger.Level
        var logPrompts: Bool
        var sampling: SamplingOverrides
        var chatTemplate: String?

        init(_ c: ServeCommand) throws {
            let env = ProcessInfo.processInfo.environment
            func value<T: LosslessStringConvertible>(_ option: T?, _ name: String) throws -> T? {
                if let option { return option }
                guard let text = env[name], !text.isEmpty else { return nil }
                guard let parsed = T(text) else { throw ValidationError("\(name)=\(text) is not a valid \(T.self)") }
                return parsed
            }
            func flag(_ option: Bool, _ name: String) -> Bool {
                option || ["1", "true", "yes", "on"].contains(env[name]?.lowercased() ?? "")
            }
            model = try value(c.model, "SKIFF_MODEL") ?? ModelCatalog.builtIn.defaultEntry.name
            threads = try value(c.threads, "SKIFF_THREADS") ?? ComputePool.defaultThreadCount
            let deviceName = try value(c.device, "SKIFF_DEVICE") ?? "auto"
            do {
                device = try ComputeDevice.named(deviceName)
            } catch {
                throw ValidationError(error.message)
            }
            gpuMemoryUtilization = try value(c.gpuMemoryUtilization, "SKIFF_GPU_MEMORY_UTILIZATION") ?? 0.9
            chatTemplate = try value(c.chatTemplate, "SKIFF_CHAT_TEMPLATE")
            _ = try ModelOptions.chatTemplateChoice(chatTemplate)
            host = try value(c.host, "SKIFF_HOST") ?? "127.0.0.1"
            port = try value(c.port, "SKIFF_PORT") ?? 8080
            let baseName = String(model.split(separator: "/").last ?? Substring(model))
            servedModelName = try value(c.servedModelName, "SKIFF_SERVED_MODEL_NAME")
                ?? (baseName.hasSuffix(".gguf") ? String(baseName.dropLast(5)) : baseName)
            var keys = (env["SKIFF_API_KEYS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if let file = try value(c.apiKeyFile, "SKIFF_API_KEY_FILE") {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw ValidationError("cannot read the API key file \(file)")
                }
                keys += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            }
            apiKeys = keys.filter { !$0.isEmpty }
            maxBodyBytes = try value(c.maxBodyBytes, "SKIFF_MAX_BODY_BYTES") ?? 4 << 20
            maxTokensCap = try value(c.maxTokensCap, "SKIFF_MAX_TOKENS_CAP")
            maxPromptTokens = try value(c.maxPromptTokens, "SKIFF_MAX_PROMPT_TOKENS")
            maxRunning = try value(c.maxRunning, "SKIFF_MAX_RUNNING") ?? 16
            maxWaiting = try value(c.maxWaiting, "SKIFF_MAX_WAITING") ?? 256
            maxStepTokens = try value(c.maxStepTokens, "SKIFF_MAX_STEP_TOKENS") ?? 512
            contextLength = try value(c.contextLength, "SKIFF_CTX")
            kvCacheBytes = try value(c.kvCacheBytes, "SKIFF_KV_CACHE_BYTES")
            kvCacheMemoryFraction = try value(c.kvCacheMemoryFraction, "SKIFF_KV_CACHE_MEMORY_FRACTION") ?? 0.5
            noPrefixCache = flag(c.noPrefixCache, "SKIFF_NO_PREFIX_CACHE")
            stateSnapshots = try value(c.stateSnapshots, "SKIFF_STATE_SNAPSHOTS") ?? 16
            gracePeriod = try value(c.gracePeriod, "SKIFF_GRACE_PERIOD") ?? 30
            requestTimeout = try value(c.requestTimeout, "SKIFF_REQUEST_TIMEOUT") ?? 600
            let format = try value(c.logFormat, "SKIFF_LOG_FORMAT") ?? "text"
            guard format == "text" || format == "json" else { throw ValidationError("--log-format must be text or json") }
            jsonLogs = format == "json"
            let level = try value(c.logLevel, "SKIFF_LOG_LEVEL") ?? "info"
            guard let parsedLevel = Logger.Level(rawValue: level) else { throw ValidationError("--log-level \(level) is not a log level") }
            logLevel = parsedLevel
            logPrompts = flag(c.logPrompts, "SKIFF_LOG_PROMPTS")
            sampling = SamplingOverrides(
                temperature: try value(c.temperature, "SKIFF_TEMPERATURE"), topK: try value(c.topK, "SKIFF_TOP_K"),
                topP: try value(c.topP, "SKIFF_TOP_P"), minP: try value(c.minP, "SKIFF_MIN_P"),
                presencePenalty: try value(c.presencePenalty, "SKIFF_PRESENCE_PENALTY"),
                frequencyPenalty: try value(c.frequencyPenalty, "SKIFF_FREQUENCY_PENALTY"))
            if let (name, requirement) = sampling.rangeProblem() {
                throw ValidationError("--\(name.replacingOccurrences(of: "_", with: "-")) must be \(requirement)")
            }

            guard (1 ... 512).contains(threads) else { throw ValidationError("--threads must be between 1 and 512") }
            guard (0 ... 65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
            guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
            guard maxTokensCap.map({ $0 >= 1 }) ?? true else { throw ValidationError("--max-tokens-cap must be at least 1") }
            guard maxPromptTokens.map({ $0 >= 1 }) ?? true else { throw ValidationError("--max-prompt-tokens must be at least 1") }
            guard maxRunning >= 1, maxWaiting >= 1, maxStepTokens >= 1 else {
                throw ValidationError("--max-running, --max-waiting and --max-step-tokens must be at least 1")
            }
            guard stateSnapshots >= 0 else { throw ValidationError("--state-snapshots must be 0 or more") }
            guard contextLength.map({ $0 >= 16 }) ?? true else { throw ValidationError("--ctx must be at least 16") }
            guard kvCacheMemoryFraction > 0, kvCacheMemoryFraction <= 0.95 else {
                throw ValidationError("--kv-cache-memory-fraction must be in (0, 0.95]")
            }
            guard gpuMemoryUtilization > 0, gpuMemoryUtilization <= 1 else {
                throw ValidationError("--gpu-memory-utilization must be in (0, 1]")
            }
            guard gracePeriod >= 0 else { throw ValidationError("--grace-period must be 0 or more") }
            guard requestTimeout >= 0 else { throw ValidationError("--request-timeout must be 0 (no limit) or more") }
        }
    }
}
