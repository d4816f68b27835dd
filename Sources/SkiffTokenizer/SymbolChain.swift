/// The live symbols of a word being merged, as a doubly linked list over slot numbers: merging a pair
/// keeps the left slot and unlinks the right one, so positions never shift.
struct SymbolChain {
    private var nextSlot: [Int32]
    private var previousSlot: [Int32]

    /// A chain of `count` slots in order.
    init(count: Int) {
        nextSlot = (0 ..< count).map { $0 + 1 < count ? Int32($0 + 1) : -1 }
        previousSlot = (0 ..< count).map { Int32($0 - 1) }
    }

    /// The live slot after `slot`.
    func next(_ slot: Int) -> Int? {
        nextSlot[slot] >= 0 ? Int(nextSlot[slot]) : nil
    }

    /// The live slot before `slot`.
    func previous(_ slot: Int) -> Int? {
        previousSlot[slot] >= 0 ? Int(previousSlot[slot]) : nil
    }

    /// Unlinks `slot`, which must be live and not the first slot.
    mutating func remove(_ slot: Int) {
        let before = Int(previousSlot[slot])
        nextSlot[before] = nextSlot[slot]
        if nextSlot[slot] >= 0 {
            previousSlot[Int(nextSlot[slot])] = Int32(before)
        }
        nextSlot[slot] = -1
        previousSlot[slot] = -1
    }
}
