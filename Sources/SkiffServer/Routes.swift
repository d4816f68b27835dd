import Foundation
import Hummingbird
import SkiffEngine
import SkiffToolCalling

/// The server's endpoints: the OpenAI API (`/v1/...`), tokenizer utilities, probes, metrics and version.
/// An instance holds what the model-backed endpoints need once the model is loaded.
struct Routes: Sendable {
    let engine: InferenceEngine
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    let completions: Completions
    let started = Int(Date().timeIntervalSince1970)

    init(engine: InferenceEngine, configuration: ServerConfiguration, metrics: ServerMetrics) {
        self.engine = engine
        self.configuration = configuration
        self.metrics = metrics
        completions = Completions(
            engine: engine, configuration: configuration, metrics: metrics, contextLength: engine.cacheCapacity.contextLength,
            samplingDefaults: engine.model.samplingRecommendation.defaults(overriddenBy: configuration.sampling))
    }

    /// The server's endpoints by path, each answering one method.
    enum Endpoint: String, CaseIterable {
        case chatCompletions = "/v1/chat/completions"
        case textCompletions = "/v1/completions"
        case models = "/v1/models"
        case tokenize = "/tokenize"
        case detokenize = "/detokenize"
        case version = "/version"
        case health = "/health"
        case ready = "/ready"
        case metrics = "/metrics"

        var method: HTTPRequest.Method {
            switch self {
            case .chatCompletions, .textCompletions, .tokenize, .detokenize: .post
            case .models, .version, .health, .ready, .metrics: .get
            }
        }

        /// Probes, metrics and version: answered without an API key, while draining, and logged at debug level.
        var isOperational: Bool {
            switch self {
            case .version, .health, .ready, .metrics: true
            case .chatCompletions, .textCompletions, .models, .tokenize, .detokenize: false
            }
        }
    }

    /// The method each endpoint answers; any other method on these paths gets 405 with `Allow`.
    static let methods = Dictionary(uniqueKeysWithValues: Endpoint.allCases.map { ($0.rawValue, $0.method) })

    /// Registers every endpoint. Those that need the model answer 503 (`model_loading`) until `state`
    /// holds the loaded model's routes; version, probes and metrics answer from the start.
    static func register(on router: Router<BasicRequestContext>, state: ServerState, configuration: ServerConfiguration,
                         metrics: ServerMetrics) {
        for endpoint in Endpoint.allCases {
            router.on(RouterPath(endpoint.rawValue), method: endpoint.method) { request, context in
                try await respond(endpoint, request, context, state: state, configuration: configuration, metrics: metrics)
            }
        }
    }

    private static func respond(
        _ endpoint: Endpoint, _ request: Request, _ context: BasicRequestContext, state: ServerState,
        configuration: ServerConfiguration, metrics: ServerMetrics
    ) async throws -> Response {
        switch endpoint {
        case .chatCompletions: return try await state.routes().chatCompletions(request, context)
        case .textCompletions: return try await state.routes().textCompletions(request, context)
        case .models: return try state.routes().models()
        case .tokenize: return try await state.routes().tokenize(request)
        case .detokenize: return try await state.routes().detokenize(request)
        case .version: return try Completions.json(VersionResponse(version: configuration.version))
        case .health: return plain("ok")
        case .ready: return ready(state.phase)
        case .metrics:
            let text = (try? state.routes())?.exposition() ?? metrics.exposition(engine: nil)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    fileprivate func chatCompletions(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var request = request
        let arrival = ContinuousClock.now
        let data = try await readBody(&request)
        var body = try decodeBody(ChatCompletionRequest.self, from: data)
        let ordered = try orderedBody(data)
        body.options.constraint = try ConstraintField.constraint(in: ordered)
        try checkModel(body.options.model)
        let tools = try ToolFields.read(ordered).map { ToolContext(fields: $0, format: ToolCallFormat.detect(chatTemplate: engine.model.chatTemplate?.source)) }
        if let tools, tools.readsCalls {
            if body.options.logprobs != nil {
                throw APIError.invalidRequest("logprobs cannot be combined with tools on this server; leave one out.", param: "logprobs")
            }
            if let schema = ToolCallFormat.schema(for: tools.fields.choice, tools: tools.fields.tools, parallel: tools.fields.parallel) {
                if let other = body.options.constraint {
                    throw APIError.invalidRequest("tool_choice \"required\" or a named function constrains the answer to tool calls; '\(other.field)' "
                        + "cannot constrain it too. Leave one out.", param: other.field)
                }
                body.options.constraint = (field: "tools", constraint: .jsonSchema(schema))
            }
        }
        let messages = tools?.prompt(body.messages) ?? body.messages
        let prompt = try engine.model.promptTokens(for: messages, tools: tools?.fields.tools.map(\.json))
        return try await answer(request, streaming: body.options.stream) {
            try await completions.respond(kind: .chat, prompt: prompt, options: body.options, tools: tools, arrival: arrival,
                                          logger: context.logger,
                                          promptText: messages.map { "\($0.role): \($0.content)" }.joined(separator: "\n"))
        }
    }

    fileprivate func textCompletions(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var request = request
        let arrival = ContinuousClock.now
        let data = try await readBody(&request)
        var body = try decodeBody(CompletionRequest.self, from: data)
        body.options.constraint = try ConstraintField.constraint(in: try orderedBody(data))
        try checkModel(body.options.model)
        let prompt: [Int32]
        let text: String
        switch body.prompt {
        case .text(let t):
            let tokenizer = engine.model.tokenizer
            let encoded = tokenizer.encode(t, addSpecial: true, parseSpecial: true)
            // A text none of whose characters the vocabulary has (control characters, say: llama.cpp drops them
            // too) has no tokens; the model then starts from the beginning of a document, as for an empty one.
            prompt = encoded.isEmpty && !t.isEmpty ? tokenizer.bos.map { [$0] } ?? [] : encoded
            text = t
        case .tokens(let tokens):
            prompt = tokens
            text = "\(tokens)"
        }
        return try await answer(request, streaming: body.options.stream) {
            try await completions.respond(kind: .text, prompt: prompt, options: body.options, arrival: arrival,
                                          logger: context.logger, promptText: text)
        }
    }

    /// Runs a completion so that a client who closes its connection ends it. A stream notices at its next
    /// write. A whole answer is computed while the connection is watched, and cancelled (the engine ends
    /// the request at its next step and frees its blocks) when the client closes it; watching the
    /// connection consumes it, so such an answer, or its error, says `Connection: close`.
    private func answer(_ request: Request, streaming: Bool,
                        _ respond: () async throws -> Response) async throws -> Response {
        guard !streaming else { return try await respond() }
        var response: Response
        do {
            response = try await request.body.consumeWithCancellationOnInboundClose { _ in try await respond() }
        } catch let error as APIError {
            response = error.response
        }
        response.headers[.connection] = "close"
        return response
    }

    fileprivate func models() throws -> Response {
        try Completions.json(ModelList(data: [.init(id: configuration.servedModelName, created: started,
                                                     maxModelLength: completions.contextLength,
                                                     samplingDefaults: .init(completions.samplingDefaults))]))
    }

    fileprivate func tokenize(_ request: Request) async throws -> Response {
        var request = request
        let body = try decodeBody(TokenizeRequest.self, from: await readBody(&request))
        try checkModel(body.model)
        let tokens: [Int32]
        if let messages = body.messages {
            tokens = try engine.model.promptTokens(for: messages, addGenerationPrompt: body.addGenerationPrompt ?? true)
        } else {
            tokens = engine.model.tokenizer.encode(body.prompt ?? "", addSpecial: body.addSpecial ?? true, parseSpecial: true)
        }
        return try Completions.json(TokenizeResponse(tokens: tokens, count: tokens.count, maxModelLength: completions.contextLength))
    }

    fileprivate func detokenize(_ request: Request) async throws -> Response {
        var request = request
        let body = try decodeBody(DetokenizeRequest.self, from: await readBody(&request))
        try checkModel(body.model)
        let vocabulary = engine.model.tokenizer.vocabularySize
        if let bad = body.tokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw APIError.invalidRequest("Token id \(bad) is outside the vocabulary (0..<\(vocabulary)).", param: "tokens")
        }
        return try Completions.json(DetokenizeResponse(prompt: engine.model.tokenizer.decode(body.tokens)))
    }

    private static func ready(_ phase: ServerState.Phase) -> Response {
        switch phase {
        case .ready: plain("ready")
        case .loading: plain("loading the model", status: .serviceUnavailable)
        case .warmingUp: plain("warming up", status: .serviceUnavailable)
        case .draining: plain("draining", status: .serviceUnavailable)
        }
    }

    fileprivate func exposition() -> String {
        metrics.observeSteps(engine.drainSteps())
        return metrics.exposition(engine: engine)
    }

    /// The model must be the served one, or absent.
    private func checkModel(_ requested: String?) throws(APIError) {
        if let requested, requested != configuration.servedModelName {
            throw .modelNotFound(requested, served: configuration.servedModelName)
        }
    }

    /// The request body, refused with 413 past the limit.
    /// It stays readable as the request's body, so that a whole answer can still watch the connection.
    private func readBody(_ request: inout Request) async throws(APIError) -> Data {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw .bodyTooLarge(limit: limit)
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw .bodyTooLarge(limit: limit)
        } catch {
            throw .invalidRequest("The request body could not be read.")
        }
    }

    private static func plain(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }
}
