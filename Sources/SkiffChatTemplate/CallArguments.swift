/// Evaluated arguments of a call, filter or test, and their binding to parameter names.
struct CallArguments: Sendable {
    var positional: [Value] = []
    var keyword: [(name: String, value: Value)] = []

    /// The arguments matched to `parameters` by position, then by name; `nil` where not given.
    /// Throws for extra positional arguments, unknown keywords and duplicates, as Python does.
    func bind(_ parameters: [String], in function: String) throws(ChatTemplateError) -> [Value?] {
        guard positional.count <= parameters.count else {
            throw ChatTemplateError(
                .invalidArgument,
                "\(function) takes at most \(parameters.count) argument(s), got \(positional.count)")
        }
        var bound: [Value?] = positional.map { $0 } + Array(repeating: nil, count: parameters.count - positional.count)
        for (name, value) in keyword {
            guard let index = parameters.firstIndex(of: name) else {
                throw ChatTemplateError(.invalidArgument, "\(function) got an unexpected keyword argument '\(name)'")
            }
            guard bound[index] == nil else {
                throw ChatTemplateError(.invalidArgument, "\(function) got multiple values for argument '\(name)'")
            }
            bound[index] = value
        }
        return bound
    }
}
