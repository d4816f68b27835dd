import Foundation

/// The time `strftime_now` reports: the current time in the local time zone when rendering for
/// real, a fixed instant in tests.
struct RenderClock: Sendable {
    var date: Date
    var timeZone: TimeZone

    static var current: RenderClock { RenderClock(date: Date(), timeZone: .current) }
}
