import SkiffGGUF

/// Why a model could not be loaded or run.
public struct ModelError: Error, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The file's `general.architecture` is not one Skiff implements.
        case unsupportedArchitecture
        /// A hyper-parameter is missing or out of range.
        case invalidHyperparameter
        /// A tensor the architecture needs is absent.
        case missingTensor
        /// A tensor has the wrong shape or a type the kernels cannot compute with.
        case unsupportedTensor
        /// Memory for weights, cache or scratch could not be allocated.
        case outOfMemory
        /// A batch that breaks the model's limits (context length, cache blocks, token ids).
        case invalidBatch
        /// The GGUF file itself is invalid.
        case file
    }

    /// The kind of problem.
    public var code: Code
    /// What went wrong, in words a user can act on.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ error: GGUFError) {
        self.init(.file, error.message)
    }

    public var description: String { message }
}
