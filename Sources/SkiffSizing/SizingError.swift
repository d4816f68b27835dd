/// Why a sizing question cannot be answered as asked.
///
/// The message says what is wrong and what to do about it: the unknown GPU with the known ones listed, the
/// missing config fields by name, the smallest catalog option for a model that fits nowhere.
public struct SizingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Code: Sendable, Equatable {
        /// The model file or config cannot be read or lacks fields.
        case model
        /// A GPU, MIG profile or instance name the catalog does not know.
        case unknownHardware
        /// The catalog file is malformed.
        case catalog
        /// The model does not fit the hardware asked for (or any in the catalog).
        case doesNotFit
        /// An option out of range.
        case invalidOption
        /// A trace or calibration file is malformed.
        case input
    }

    /// The kind of problem.
    public var code: Code
    /// What went wrong, in words a user can act on.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
