import SkiffHyperparameters

/// The activations of a transformer block's forward pass for one batch, on a backend: the residual stream
/// and its normed copy, queries, keys, values, the attention output, and the feed-forward network's gate
/// and up projections.
struct BlockActivations<Backend: ComputeBackend> {
    let x, normed, queries, keys, values, attention, gate, up: Backend.Activations

    init(_ backend: Backend, _ c: TransformerConfiguration) throws(ModelError) {
        x = try backend.activations(width: c.embeddingLength)
        normed = try backend.activations(width: c.embeddingLength)
        queries = try backend.activations(width: c.headCount * c.headDimension)
        keys = try backend.activations(width: c.kvHeadCount * c.headDimension)
        values = try backend.activations(width: c.kvHeadCount * c.headDimension)
        attention = try backend.activations(width: c.headCount * c.headDimension)
        gate = try backend.activations(width: c.feedForwardLength)
        up = try backend.activations(width: c.feedForwardLength)
    }

    /// A backend for a model with configuration `c`, scratch sized for its widest activation.
    static func backend(_ options: RunnerOptions, _ layout: CacheLayout, _ c: TransformerConfiguration) throws(ModelError) -> Backend {
        try Backend(options: options, layout: layout,
                    widestActivation: max(c.embeddingLength, c.feedForwardLength, c.headCount * c.headDimension))
    }
}
