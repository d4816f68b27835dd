/// A place in template source: 1-based line and column, the column counted in Unicode scalars.
struct SourceLocation: Sendable, Equatable {
    var line: Int
    var column: Int
}
