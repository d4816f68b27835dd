import Foundation

/// C `strftime` in the "C" locale, for `strftime_now(format)` (Python passes the format to the
/// C library). Supports the common conversions (`%d %b %Y %H:%M:%S` and friends, glibc's `-`
/// flag for no padding); an unknown conversion is copied through unchanged.
enum Strftime {
    private static let monthNames = [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ]
    private static let weekdayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    static func format(_ format: String, date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let fields = Fields(
            year: parts.year ?? 1970, month: parts.month ?? 1, day: parts.day ?? 1,
            hour: parts.hour ?? 0, minute: parts.minute ?? 0, second: parts.second ?? 0,
            weekday: (parts.weekday ?? 1) - 1,
            dayOfYear: calendar.ordinality(of: .day, in: .year, for: date) ?? 1,
            offsetSeconds: timeZone.secondsFromGMT(for: date),
            zoneName: timeZone.abbreviation(for: date) ?? "")
        var result = ""
        var scalars = format.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "%" else {
                result.unicodeScalars.append(scalar)
                continue
            }
            guard var conversion = scalars.next() else {
                result += "%"
                break
            }
            var padded = true
            if conversion == "-", let next = scalars.next() {
                padded = false
                conversion = next
            }
            if let text = fields.expand(conversion, padded: padded) {
                result += text
            } else {
                result += (padded ? "%" : "%-") + String(conversion)
            }
        }
        return result
    }

    private struct Fields {
        var year, month, day, hour, minute, second, weekday, dayOfYear, offsetSeconds: Int
        var zoneName: String

        func number(_ value: Int, width: Int, padded: Bool, pad: Character = "0") -> String {
            let digits = String(value)
            guard padded, digits.count < width else { return digits }
            return String(repeating: pad, count: width - digits.count) + digits
        }

        func expand(_ conversion: Unicode.Scalar, padded: Bool) -> String? {
            let hour12 = hour % 12 == 0 ? 12 : hour % 12
            switch conversion {
            case "Y": return String(year)
            case "y": return number(year % 100, width: 2, padded: padded)
            case "m": return number(month, width: 2, padded: padded)
            case "d": return number(day, width: 2, padded: padded)
            case "e": return number(day, width: 2, padded: padded, pad: " ")
            case "H": return number(hour, width: 2, padded: padded)
            case "I": return number(hour12, width: 2, padded: padded)
            case "M": return number(minute, width: 2, padded: padded)
            case "S": return number(second, width: 2, padded: padded)
            case "j": return number(dayOfYear, width: 3, padded: padded)
            case "p": return hour < 12 ? "AM" : "PM"
            case "B": return Strftime.monthNames[month - 1]
            case "b", "h": return String(Strftime.monthNames[month - 1].prefix(3))
            case "A": return Strftime.weekdayNames[weekday]
            case "a": return String(Strftime.weekdayNames[weekday].prefix(3))
            case "w": return String(weekday)
            case "u": return String(weekday == 0 ? 7 : weekday)
            case "F": return "\(year)-\(number(month, width: 2, padded: true))-\(number(day, width: 2, padded: true))"
            case "D": return [month, day, year % 100].map { number($0, width: 2, padded: true) }.joined(separator: "/")
            case "T": return [hour, minute, second].map { number($0, width: 2, padded: true) }.joined(separator: ":")
            case "R": return [hour, minute].map { number($0, width: 2, padded: true) }.joined(separator: ":")
            case "z":
                let magnitude = abs(offsetSeconds) / 60
                return (offsetSeconds < 0 ? "-" : "+") + number(magnitude / 60, width: 2, padded: true)
                    + number(magnitude % 60, width: 2, padded: true)
            case "Z": return zoneName
            case "n": return "\n"
            case "t": return "\t"
            case "%": return "%"
            default: return nil
            }
        }
    }
}
