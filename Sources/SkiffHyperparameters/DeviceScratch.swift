/// What a runner on a GPU holds there besides the weights and the KV cache: activations for each token of its
/// largest batch, and a fixed part (the output head's rows of logits, the step's inputs).
///
/// `skiff serve` subtracts it from the device's memory share before sizing the KV cache, and `skiff plan` does the
/// same for a GGUF file, so both give the cache the same bytes. The engine states it per architecture
/// (`ModelArchitectures.deviceScratch(of:)` in `SkiffModels`).
public struct DeviceScratch: Sendable, Equatable {
    /// Bytes of activations per token of a batch.
    public var bytesPerToken: Int
    /// Bytes whatever the batch.
    public var fixedBytes: Int

    /// A scratch of `bytesPerToken` per batch token and `fixedBytes` besides.
    public init(bytesPerToken: Int, fixedBytes: Int) {
        self.bytesPerToken = bytesPerToken
        self.fixedBytes = fixedBytes
    }

    /// Bytes for batches of at most `maxBatchTokens` tokens.
    public func bytes(maxBatchTokens: Int) -> Int { maxBatchTokens * bytesPerToken + fixedBytes }
}
