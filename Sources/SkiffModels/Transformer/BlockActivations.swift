import SkiffHyperparameters

/// The activations of a transformer block's forward pass for one batch, on a backend: the residual stream
/// and its normed copy, queries, keys, values, the attention output, and the feed-forward network's gate
/// and up projections.
struct BlockActivations<Backend: ComputeBackend> {
    let x, normed, queries, keys, values, attention, gate, up: Backend.Activations

    init(_ backend: Backend, _ c: TransformerConfiguration) throws(ModelError) {
        let w = Self.widths(c)
        (x, normed, queries, keys, values) = (try backend.activations(width: w[0]), try backend.activations(width: w[1]),
                                              try backend.activations(width: w[2]), try backend.activations(width: w[3]),
                                              try backend.activations(width: w[4]))
        (attention, gate, up) = (try backend.activations(width: w[5]), try backend.activations(width: w[6]), try backend.activations(width: w[7]))
    }

    /// The widths of the activations above, in their order.
    static func widths(_ c: TransformerConfiguration) -> [Int] {
        let d = c.embeddingLength, q = c.headCount * c.headDimension, kv = c.kvHeadCount * c.headDimension
        return [d, d, q, kv, kv, q, c.feedForwardLength, c.feedForwardLength]
    }

    /// A backend for a model with configuration `c`, scratch sized for its widest activation.
    static func backend(_ options: RunnerOptions, _ layout: CacheLayout, _ c: TransformerConfiguration) throws(ModelError) -> Backend {
        try Backend(options: options, layout: layout,
                    widestActivation: max(c.embeddingLength, c.feedForwardLength, c.headCount * c.headDimension))
    }
}
