/// Python's `str` operations, working on Unicode scalars (Python's characters) so that
/// lengths, indexes and splits agree with Python.
extension Unicode.Scalar {
    /// Python's `str.isspace()` for one character.
    var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029,
            0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }
}

extension String {
    /// The characters (Unicode scalars) of the string.
    var scalars: [Unicode.Scalar] { Array(unicodeScalars) }

    init(scalars: some Sequence<Unicode.Scalar>) {
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars)
        self = result
    }

    /// Python's `strip`/`lstrip`/`rstrip`: removes whitespace, or any of `characters` when given.
    func pythonStrip(_ characters: String? = nil, leading: Bool = true, trailing: Bool = true) -> String {
        let set = characters.map { Set($0.unicodeScalars) }
        let remove: (Unicode.Scalar) -> Bool = { scalar in
            set.map { $0.contains(scalar) } ?? scalar.isPythonWhitespace
        }
        let all = scalars
        var start = 0
        var end = all.count
        if leading { while start < end, remove(all[start]) { start += 1 } }
        if trailing { while end > start, remove(all[end - 1]) { end -= 1 } }
        return String(scalars: all[start..<end])
    }

    /// Python's `split`: on runs of whitespace when `separator` is nil, else on each separator;
    /// at most `maxSplit` splits when it is not negative.
    func pythonSplit(separator: String?, maxSplit: Int = -1) throws(ChatTemplateError) -> [String] {
        let all = scalars
        guard let separator else {
            var parts: [String] = []
            var index = 0
            while index < all.count {
                while index < all.count, all[index].isPythonWhitespace { index += 1 }
                if index == all.count { break }
                if maxSplit >= 0, parts.count == maxSplit {
                    var end = all.count
                    while end > index, all[end - 1].isPythonWhitespace { end -= 1 }
                    parts.append(String(scalars: all[index..<end]))
                    break
                }
                let start = index
                while index < all.count, !all[index].isPythonWhitespace { index += 1 }
                parts.append(String(scalars: all[start..<index]))
            }
            return parts
        }
        let needle = separator.scalars
        guard !needle.isEmpty else {
            throw ChatTemplateError(.invalidArgument, "split() got an empty separator")
        }
        var parts: [String] = []
        var start = 0
        var index = 0
        while index + needle.count <= all.count {
            if maxSplit >= 0, parts.count == maxSplit { break }
            if all[index..<index + needle.count].elementsEqual(needle) {
                parts.append(String(scalars: all[start..<index]))
                index += needle.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(String(scalars: all[start...]))
        return parts
    }

    /// Python's `find`: the scalar index of the first occurrence of `needle`, or -1.
    func pythonFind(_ needle: String) -> Int {
        let all = scalars
        let target = needle.scalars
        guard target.count <= all.count else { return -1 }
        for index in 0...(all.count - target.count) where all[index..<index + target.count].elementsEqual(target) {
            return index
        }
        return -1
    }

    /// Python's `count`: non-overlapping occurrences of `needle`.
    func pythonCount(_ needle: String) -> Int {
        let all = scalars
        let target = needle.scalars
        if target.isEmpty { return all.count + 1 }
        var count = 0
        var index = 0
        while index + target.count <= all.count {
            if all[index..<index + target.count].elementsEqual(target) {
                count += 1
                index += target.count
            } else {
                index += 1
            }
        }
        return count
    }

    /// Python's `replace`: every (or the first `count`, when not negative) occurrence of `old`.
    func pythonReplace(_ old: String, with new: String, count: Int = -1) -> String {
        let all = scalars
        let target = old.scalars
        let replacement = new.unicodeScalars
        var result = String.UnicodeScalarView()
        var replaced = 0
        if target.isEmpty {
            for scalar in all {
                if count < 0 || replaced < count {
                    result.append(contentsOf: replacement)
                    replaced += 1
                }
                result.append(scalar)
            }
            if count < 0 || replaced < count { result.append(contentsOf: replacement) }
            return String(result)
        }
        var index = 0
        while index < all.count {
            if (count < 0 || replaced < count), index + target.count <= all.count,
                all[index..<index + target.count].elementsEqual(target)
            {
                result.append(contentsOf: replacement)
                index += target.count
                replaced += 1
            } else {
                result.append(all[index])
                index += 1
            }
        }
        return String(result)
    }

    func pythonHasPrefix(_ prefix: String) -> Bool {
        unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    func pythonHasSuffix(_ suffix: String) -> Bool {
        unicodeScalars.reversed().starts(with: suffix.unicodeScalars.reversed())
    }

    /// Python's `str.title()`: a cased character after an uncased one is title-cased, the rest lowered.
    var pythonTitle: String {
        var result = ""
        var previousCased = false
        for scalar in unicodeScalars {
            result += previousCased ? scalar.properties.lowercaseMapping : scalar.properties.titlecaseMapping
            previousCased = scalar.properties.isCased
        }
        return result
    }

    /// Python's `str.capitalize()`: the first character title-cased, the rest lowered.
    var pythonCapitalize: String {
        guard let first = unicodeScalars.first else { return "" }
        return first.properties.titlecaseMapping + String(scalars: unicodeScalars.dropFirst()).lowercased()
    }

    /// Jinja's `title` filter: each word (split at runs of whitespace, `-`, `(`, `{`, `[`, `<`)
    /// gets its first character upper-cased and the rest lower-cased.
    var jinjaTitle: String {
        func isBoundary(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isPythonWhitespace || "-({[<".unicodeScalars.contains(scalar)
        }
        var result = ""
        var pieceStart = true
        var inBoundary: Bool?
        for scalar in unicodeScalars {
            let boundary = isBoundary(scalar)
            if boundary != inBoundary {
                pieceStart = true
                inBoundary = boundary
            }
            result += pieceStart ? scalar.properties.uppercaseMapping : scalar.properties.lowercaseMapping
            pieceStart = false
        }
        return result
    }
}
