import Foundation

/// A published Llamba checkpoint's `config.json` (cartesia-ai/edge, `cartesia_pytorch/Llamba`), with the
/// published classes' defaults for what it leaves out (`LlambaConfig`, `DiscreteMamba2`): 32 heads of x and
/// of B and C, state 64, expand 1, a 4-tap convolution with a bias and no activation after it, no projection
/// biases (z gets its own), a SwiGLU MLP of 14336 without biases, the vocabulary padded to a multiple of 8.
/// Read by `skiff convert` and by `skiff plan`.
public struct LlambaConfig: Sendable, Equatable {
    /// Why a `config.json` cannot be read as Llamba's, naming the key and the file.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public var embeddingLength: Int
    public var blockCount: Int
    /// The embedding's rows: `vocab_size` rounded up to `pad_vocab_size_multiple`.
    public var vocabularyRows: Int
    public var tiedEmbeddings: Bool
    public var headBias: Bool
    /// The final norm's epsilon (the blocks' norms fix theirs at 1e-5).
    public var outputNormEpsilon: Double
    public var feedForwardLength: Int
    public var stateSize: Int
    /// Heads of x (`n_v_heads`).
    public var headCount: Int
    /// B and C vectors (`n_qk_heads`).
    public var groupCount: Int
    public var innerSize: Int
    public var convKernel: Int
    /// After the convolution: `identity` or `silu` (`swish` is read as `silu`).
    public var convolutionActivation: String
    /// Biases on the input and output projections (and then no z bias).
    public var projectionBias: Bool
    public var convolutionBias: Bool
    /// `max_position_embeddings`, when the file has it.
    public var contextLength: Int?

    /// The convolution's channels: x, B and C.
    public var convolutionChannels: Int { innerSize + 2 * groupCount * stateSize }
    /// The input projection's outputs: xBC, z, then A_log per head.
    public var projectionWidth: Int { convolutionChannels + innerSize + headCount }

    /// Whether a `config.json` object is Llamba's: its `model_type`, or (the published files may carry none)
    /// an `ssm_cfg` and an `mlp_cfg`.
    public static func describes(_ json: [String: Any]) -> Bool {
        let type = json["model_type"] as? String
        return type == "llamba" || (type == nil && json["ssm_cfg"] != nil && json["mlp_cfg"] != nil)
    }

    /// Reads `json`, the contents of the `config.json` at `path`.
    public init(json: [String: Any], path: String) throws(Invalid) {
        let c = Reader(values: json, path: path)
        embeddingLength = try c.positive("d_model")
        blockCount = try c.positive("n_layer", 32)
        let multiple = try c.positive("pad_vocab_size_multiple", 8)
        vocabularyRows = (try c.positive("vocab_size") + multiple - 1) / multiple * multiple
        tiedEmbeddings = try c.flag("tie_embeddings", false)
        headBias = try c.flag("lm_head_bias", false)
        outputNormEpsilon = try c.number("norm_epsilon", 1e-5)
        contextLength = try c.optionalPositive("max_position_embeddings")
        let mlp = try c.object("mlp_cfg")
        feedForwardLength = try mlp.positive("intermediate_size", 14336)
        guard try !mlp.flag("bias", false), try mlp.string("act_fn", "silu") == "silu" else {
            throw Invalid(message: "\(path): mlp_cfg has biases or an activation other than silu; Skiff's llamba runs Llama's SwiGLU MLP without biases")
        }
        let ssm = try c.object("ssm_cfg")
        stateSize = try ssm.positive("d_state", 64)
        headCount = try ssm.positive("n_v_heads", 32)
        groupCount = try ssm.positive("n_qk_heads", 32)
        innerSize = try ssm.positive("expand", 1) * embeddingLength
        convKernel = try ssm.positive("d_conv", 4)
        let activation = try ssm.string("activation", "identity")
        projectionBias = try ssm.flag("bias", false)
        convolutionBias = try ssm.flag("conv_bias", true)
        guard innerSize % headCount == 0, headCount % groupCount == 0 else {
            throw Invalid(message: "\(path): ssm_cfg's n_v_heads (\(headCount)) must divide expand × d_model (\(innerSize)), and n_qk_heads (\(groupCount)) must divide n_v_heads")
        }
        guard ["identity", "silu", "swish"].contains(activation) else {
            throw Invalid(message: "\(path): ssm_cfg.activation is '\(activation)'; the published mixer knows identity, silu and swish")
        }
        convolutionActivation = activation == "identity" ? "identity" : "silu"
    }

    /// Typed reads of a JSON object, with messages that name the key and the file.
    private struct Reader {
        let values: [String: Any]
        let path: String

        func present(_ key: String) -> Any? {
            guard let value = values[key], !(value is NSNull) else { return nil }
            return value
        }

        func object(_ key: String) throws(Invalid) -> Reader {
            guard let value = present(key) else { return Reader(values: [:], path: path) }
            guard let object = value as? [String: Any] else { throw Invalid(message: "\(path): '\(key)' must be an object") }
            return Reader(values: object, path: path)
        }

        func optionalPositive(_ key: String) throws(Invalid) -> Int? {
            guard let value = present(key) else { return nil }
            guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int > 0 else {
                throw Invalid(message: "\(path): '\(key)' is \(value); it must be a positive integer")
            }
            return int
        }

        func positive(_ key: String, _ fallback: Int? = nil) throws(Invalid) -> Int {
            if let value = try optionalPositive(key) { return value }
            guard let fallback else { throw Invalid(message: "\(path) lacks '\(key)' (a positive integer)") }
            return fallback
        }

        func flag(_ key: String, _ fallback: Bool) throws(Invalid) -> Bool {
            guard let value = present(key) else { return fallback }
            guard let flag = value as? Bool else { throw Invalid(message: "\(path): '\(key)' is \(value); it must be true or false") }
            return flag
        }

        func number(_ key: String, _ fallback: Double) throws(Invalid) -> Double {
            guard let value = present(key) else { return fallback }
            guard let number = value as? NSNumber, number.doubleValue > 0, number.doubleValue.isFinite else {
                throw Invalid(message: "\(path): '\(key)' is \(value); it must be a positive number")
            }
            return number.doubleValue
        }

        func string(_ key: String, _ fallback: String) throws(Invalid) -> String {
            guard let value = present(key) else { return fallback }
            guard let text = value as? String else { throw Invalid(message: "\(path): '\(key)' is \(value); it must be a string") }
            return text
        }
    }
}
