import SkiffGGUF
import SkiffVulkan

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
        /// The compute device asked for is absent, or lacks what Skiff's kernels need.
        case deviceUnavailable
        /// The compute device failed (a driver error, a lost device).
        case deviceFailed
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

    /// A Vulkan failure as the model's error: out of memory, an unusable device or a failed call.
    init(_ error: VulkanError) {
        switch error.kind {
        case .outOfMemory: self.init(.outOfMemory, error.message)
        case .unavailable, .unsupportedDevice: self.init(.deviceUnavailable, error.message)
        case .failed: self.init(.deviceFailed, error.message)
        }
    }

    public var description: String { message }
}
