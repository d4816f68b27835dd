import SkiffHyperparameters

/// The recurrent state of a `CacheLayout`'s state-space layers, one slot per running sequence: in each
/// recurrent layer, the convolution's last inputs and the scan's state, as floats.
///
/// A slot holds the state after its sequence's first `positions[slot]` tokens; a batch that starts a
/// sequence at position 0 starts it from zeros. Which sequence uses which slot is the engine's business.
public final class RecurrentStateStorage {
    /// Bytes of one value of state.
    public static let bytesPerElement = MemoryLayout<Float>.size

    /// Number of slots.
    let slotCount: Int
    /// For each layer of the layout: the offset of its state within a slot and its convolution's share; nil
    /// for an attention layer.
    private let layers: [(offset: Int, convolution: Int)?]
    /// Floats of one slot.
    private let slotElements: Int
    /// Tokens each slot's state has seen.
    private(set) var positions: [Int]
    private let memory: ReservedMemory

    /// Reserves `slotCount` slots for the recurrent layers of `layout` (none when it has none).
    init(layout: CacheLayout, slotCount: Int, resident: Bool) throws(ModelError) {
        var offset = 0
        layers = layout.layers.map { layer in
            guard case .recurrent(let convolution, _) = layer else { return nil }
            defer { offset += layer.stateElements }
            return (offset, convolution)
        }
        slotElements = offset
        self.slotCount = slotElements == 0 ? 0 : slotCount
        positions = Array(repeating: 0, count: self.slotCount)
        memory = try ReservedMemory(byteCount: self.slotCount * slotElements * Self.bytesPerElement, resident: resident,
                                    purpose: "the recurrent state of \(self.slotCount) sequences")
    }

    /// Whether the layout has recurrent layers.
    var isEmpty: Bool { slotCount == 0 }

    private func slot(_ slot: Int) -> UnsafeMutablePointer<Float> {
        memory.base.assumingMemoryBound(to: Float.self) + slot * slotElements
    }

    /// The convolution inputs and scan state of `slot` in layout layer `layer`.
    func state(slot: Int, layer: Int) -> (convolution: UnsafeMutablePointer<Float>, scan: UnsafeMutablePointer<Float>) {
        guard let (offset, convolution) = layers[layer] else { preconditionFailure("layer \(layer) keeps no recurrent state") }
        let base = self.slot(slot) + offset
        return (base, base + convolution)
    }

    /// Throws unless `slot` exists.
    private func check(_ slot: Int) throws(ModelError) {
        guard slot >= 0, slot < slotCount else {
            throw ModelError(.invalidBatch, "state slot \(slot) does not exist (there are \(slotCount))")
        }
    }

    /// Copies slot `source`'s state and token count into slot `destination`.
    func copy(from source: Int, to destination: Int) throws(ModelError) {
        try check(source)
        try check(destination)
        guard source != destination else { return }
        self.slot(destination).update(from: self.slot(source), count: slotElements)
        positions[destination] = positions[source]
    }

    /// Makes `slot` ready for a batch that continues its sequence at `position` with `count` tokens: zeros when
    /// `position` is 0. Throws when the slot holds the state of a different number of tokens.
    func advance(slot: Int, from position: Int, count: Int) throws(ModelError) {
        try check(slot)
        if position == 0 {
            self.slot(slot).update(repeating: 0, count: slotElements)
        } else if positions[slot] != position {
            throw ModelError(.invalidBatch, "state slot \(slot) holds the state after \(positions[slot]) tokens, not \(position)")
        }
        positions[slot] = position + count
    }
}
