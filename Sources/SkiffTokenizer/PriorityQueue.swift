/// A binary min-heap: `pop()` returns the smallest element first.
///
/// The merge loops of both encoders keep their candidate pairs here, which keeps a word of n symbols at
/// O(n log n) even for hostile input such as a megabyte of one repeated letter.
struct PriorityQueue<Element: Comparable> {
    private var elements: [Element] = []

    /// Whether no element is queued.
    var isEmpty: Bool { elements.isEmpty }

    /// Removes every element, keeping the storage for reuse.
    mutating func removeAll() {
        elements.removeAll(keepingCapacity: true)
    }

    /// Adds an element.
    mutating func push(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard elements[child] < elements[parent] else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the smallest element, or nil when empty.
    mutating func pop() -> Element? {
        guard let last = elements.popLast() else { return nil }
        guard !elements.isEmpty else { return last }
        let top = elements[0]
        elements[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < elements.count else { break }
            let right = left + 1
            let smaller = right < elements.count && elements[right] < elements[left] ? right : left
            guard elements[smaller] < elements[parent] else { break }
            elements.swapAt(smaller, parent)
            parent = smaller
        }
        return top
    }
}
