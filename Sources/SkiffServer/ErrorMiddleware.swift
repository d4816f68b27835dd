import Hummingbird
import Logging

/// The edge where every thrown error becomes the API's error shape, and where each request is logged
/// (method, path, status, duration; never bodies).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            if let allowed = Routes.methods[request.uri.path], allowed != request.method {
                response = APIError.methodNotAllowed(request.method, allowed: allowed).response
            } else {
                response = APIError.from(error).response
            }
        } catch {
            let apiError = APIError.from(error)
            if apiError.status.code >= 500, !(error is APIError) {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
            response = apiError.response
        }
        let seconds = (ContinuousClock.now - start).secondsValue
        let level: Logger.Level = RequestGate<Context>.isOperational(request.uri.path) ? .debug : .info
        context.logger.log(level: level, "http request", metadata: [
            "http.method": "\(request.method.rawValue)", "http.path": "\(request.uri.path)",
            "http.status": "\(response.status.code)", "duration_ms": "\(Int(seconds * 1000))",
        ])
        return response
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
