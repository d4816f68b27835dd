import Foundation
import SkiffGGUF
import SkiffHyperparameters

/// What one architecture's Hugging Face checkpoint becomes in GGUF: its metadata and, in file order, each
/// tensor with the checkpoint tensor it comes from.
struct CheckpointLayout: Sendable {
    /// A GGUF tensor and its source.
    struct Tensor: Sendable {
        /// What the converter may do to its precision.
        enum Role: Sendable {
            /// Stored at the requested type (a weight matrix).
            case matrix
            /// The output head (or the embedding that serves as it): kept at 8 bits or more.
            case head
            /// Kept in F32 (norms, biases, convolution taps, per-head constants).
            case exact
        }

        let name: String
        let source: String
        /// The source's shape, PyTorch's order (slowest dimension first).
        let sourceShape: [Int]
        /// GGUF's order (fastest first); the same elements in the same order as the source.
        let dimensions: [Int]
        let role: Role
    }

    /// `general.architecture`.
    let architecture: String
    /// The architecture's keys (without `general.*` and `tokenizer.*`).
    let metadata: [(String, GGUFValue)]
    let tensors: [Tensor]
    /// Rows of the token embedding, which the tokenizer's vocabulary is padded to.
    let vocabularyRows: Int
    /// Checkpoint tensors the GGUF file leaves out on purpose (a tied head's copy of the embedding).
    let omitted: Set<String>

    /// The layout for a checkpoint's `config.json`, by its `model_type`.
    static func read(configuration path: URL, contextLength: Int?) throws(ConvertError) -> CheckpointLayout {
        guard let data = try? Data(contentsOf: path) else {
            throw ConvertError(.invalidCheckpoint, "\(path.path) is missing or unreadable; a Hugging Face checkpoint directory has a config.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConvertError(.invalidCheckpoint, "\(path.path) is not a JSON object")
        }
        if LlambaConfig.describes(json) {
            do {
                return llamba(try LlambaConfig(json: json, path: path.path), contextLength: contextLength)
            } catch {
                throw ConvertError(.unsupportedModel, error.message)
            }
        }
        throw ConvertError(.unsupportedModel, "\(path.path) describes model_type '\(json["model_type"] as? String ?? "none")'; skiff convert converts: llamba")
    }
}
