/// Hand-written matchers for the split regular expressions of the supported pre-tokenizers.
///
/// Each one walks a scalar range and appends the ranges a regex "split, isolated" would produce: the matches
/// in order and, for the patterns that do not match everything, the gaps between them. The ranges stay
/// within the input range, so a lookahead such as `(?!\S)` sees the end of the range as the end of text,
/// as it does when a pre-tokenizer runs on the pieces of an earlier one.
extension ScalarText {
    /// GPT-2's pattern, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    func splitGPT2(_ range: Range<Int>, into pieces: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let start = i
            if let length = contractionLength(at: i, end: end, caseInsensitive: false) {
                i += length
            } else {
                // An optional U+0020 joins the run that follows it, unless that run is whitespace.
                let runStart = scalars[i] == " " && i + 1 < end && !classes[i + 1].isWhitespace ? i + 1 : i
                let runClass = classes[runStart]
                if runClass.isWhitespace {
                    i = whitespaceEnd(from: i, end: end)
                } else {
                    i = runStart + 1
                    while i < end && classes[i] == runClass {
                        i += 1
                    }
                }
            }
            pieces.append(start ..< i)
        }
    }

    /// The pattern of Llama 3 (`maxDigits` 3) and Qwen 2 (`maxDigits` 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    func splitLlama3(_ range: Range<Int>, maxDigits: Int, into pieces: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let start = i
            let current = classes[i]
            if let length = contractionLength(at: i, end: end, caseInsensitive: true) {
                i += length
            } else if current == .letter
                || (current != .newline && current != .number && i + 1 < end && classes[i + 1] == .letter)
            {
                i += 1
                while i < end && classes[i] == .letter {
                    i += 1
                }
            } else if current == .number {
                i += 1
                while i < end && i - start < maxDigits && classes[i] == .number {
                    i += 1
                }
            } else if current == .other || (scalars[i] == " " && i + 1 < end && classes[i + 1] == .other) {
                i += current == .other ? 1 : 2
                while i < end && classes[i] == .other {
                    i += 1
                }
                while i < end && classes[i] == .newline {
                    i += 1
                }
            } else {
                // Whitespace: up to the last CR/LF of the run if it has one, else as in GPT-2.
                let runEnd = classes[i ..< end].firstIndex { !$0.isWhitespace } ?? end
                if let lastNewline = classes[i ..< runEnd].lastIndex(of: .newline) {
                    i = lastNewline + 1
                } else {
                    i = whitespaceEnd(from: i, end: end)
                }
            }
            pieces.append(start ..< i)
        }
    }

    /// Isolates the scalars for which `matches` holds: each on its own when `runs` is false (`\p{N}`), or
    /// maximal runs of them when it is true (`\p{N}+`); the text between them stays as pieces too.
    func isolate(_ range: Range<Int>, runs: Bool, into pieces: inout [Range<Int>], where matches: (Int) -> Bool) {
        var gapStart = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard matches(i) else {
                i += 1
                continue
            }
            if gapStart < i {
                pieces.append(gapStart ..< i)
            }
            let matchStart = i
            i += 1
            while runs && i < range.upperBound && matches(i) {
                i += 1
            }
            pieces.append(matchStart ..< i)
            gapStart = i
        }
        if gapStart < range.upperBound {
            pieces.append(gapStart ..< range.upperBound)
        }
    }

    /// Isolates groups of three ASCII digits, left to right (`[0-9][0-9][0-9]`).
    func isolateDigitTriples(_ range: Range<Int>, into pieces: inout [Range<Int>]) {
        var gapStart = range.lowerBound
        var i = range.lowerBound
        while i + 3 <= range.upperBound {
            guard isASCIIDigit(i), isASCIIDigit(i + 1), isASCIIDigit(i + 2) else {
                i += 1
                continue
            }
            if gapStart < i {
                pieces.append(gapStart ..< i)
            }
            pieces.append(i ..< i + 3)
            i += 3
            gapStart = i
        }
        if gapStart < range.upperBound {
            pieces.append(gapStart ..< range.upperBound)
        }
    }

    /// Whether the scalar at `i` is in `\p{P}` or is one of `$+<=>^~|` (llama.cpp's default first split).
    func isPunctuationOrOperator(_ i: Int) -> Bool {
        let scalar = scalars[i]
        switch scalar {
        case "$", "+", "<", "=", ">", "^", "~", "|":
            return true
        default:
            switch scalar.properties.generalCategory {
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                 .initialPunctuation, .finalPunctuation, .otherPunctuation:
                return true
            default:
                return false
            }
        }
    }

    private func isASCIIDigit(_ i: Int) -> Bool {
        ("0" ... "9").contains(scalars[i])
    }

    /// The end of `\s+(?!\S)|\s+` at `i`: the whole whitespace run when it ends the range, otherwise the run
    /// less its last scalar (which then leads the next piece), or a single scalar.
    private func whitespaceEnd(from i: Int, end: Int) -> Int {
        var runEnd = i + 1
        while runEnd < end && classes[runEnd].isWhitespace {
            runEnd += 1
        }
        if runEnd == end || runEnd - i == 1 {
            return runEnd
        }
        return runEnd - 1
    }

    /// The length of the contraction (`'s 't 're 've 'm 'll 'd`) starting at `i`, if there is one.
    private func contractionLength(at i: Int, end: Int, caseInsensitive: Bool) -> Int? {
        guard scalars[i] == "'", i + 1 < end else { return nil }
        func letter(_ k: Int) -> Unicode.Scalar? {
            guard k < end else { return nil }
            let scalar = scalars[k]
            guard caseInsensitive, ("A" ... "Z").contains(scalar) else { return scalar }
            return Unicode.Scalar(scalar.value + 0x20)
        }
        switch letter(i + 1) {
        case "s", "t", "m", "d":
            return 2
        case "r", "v":
            return letter(i + 2) == "e" ? 3 : nil
        case "l":
            return letter(i + 2) == "l" ? 3 : nil
        default:
            return nil
        }
    }
}
