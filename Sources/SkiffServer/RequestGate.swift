import Hummingbird

/// Admits requests: refuses new work with 503 while draining, counts in-flight requests until their
/// response bodies are fully written, and checks API keys on the API routes.
///
/// Probes (`/health`, `/ready`), `/metrics` and `/version` are always answered and never need a key,
/// so orchestrators and scrapers keep working during a drain.
struct RequestGate<Context: RequestContext>: RouterMiddleware {
    let state: ServerState
    let keys: APIKeys

    static func isOperational(_ path: String) -> Bool {
        Routes.Endpoint(rawValue: path)?.isOperational ?? false
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if Self.isOperational(path) { return try await next(request, context) }
        if keys.isEnabled, !keys.accepts(authorization: request.headers[.authorization]) {
            throw APIError.unauthorized
        }
        guard state.admit() else { throw APIError.shuttingDown }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            state.release()
            throw error
        }
        let body = response.body
        let state = self.state
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            defer { state.release() }
            try await body.write(writer)
        }
        return response
    }
}
