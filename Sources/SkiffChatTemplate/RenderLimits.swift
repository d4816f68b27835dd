/// Bounds on one render, so hostile or broken templates end with `.limitExceeded` instead of
/// hanging, exhausting memory or overflowing the stack.
struct RenderLimits: Sendable {
    /// Bytes of rendered output (and of any one string built while rendering).
    var maxTextBytes = 16 << 20
    /// Items in one list built while rendering (`range`, `+`, `*`).
    var maxCollectionCount = 1_000_000
    /// Units of work: one per statement run and loop iteration, one per 256 bytes copied, and
    /// `tableEntryCost` per macro, call block or namespace created (each is kept until the end).
    var maxSteps = 2_000_000
    /// The work charged for each macro, call block or namespace created.
    static let tableEntryCost = 32
    /// Nesting of evaluation at run time: expressions, statements and macro calls together.
    var maxRecursionDepth = 200
    /// How deep lists and dictionaries may nest in a variable, argument or namespace attribute.
    var maxValueDepth = 100

    static let standard = RenderLimits()
}
