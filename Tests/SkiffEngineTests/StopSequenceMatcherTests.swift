import SkiffEngine
import Testing

@Suite struct StopSequenceMatcherTests {
    /// Feeds `pieces` and returns what was emitted and whether a stop was hit.
    func run(_ stops: [String], _ pieces: [String]) -> (String, Bool) {
        var matcher = StopSequenceMatcher(stops: stops)
        var out = ""
        for piece in pieces {
            let (text, stopped) = matcher.feed(piece)
            out += text
            if stopped { return (out, true) }
        }
        return (out + matcher.flush(), false)
    }

    @Test func stopsInsideOnePiece() {
        #expect(run(["END"], ["Hello END world"]) == ("Hello ", true))
    }

    @Test func stopsWhenSplitAcrossPieces() {
        #expect(run(["</answer>"], ["The result", " is 4</", "ans", "wer> and more"]) == ("The result is 4", true))
        #expect(run(["\n\n"], ["one\n", "\ntwo"]) == ("one", true))
    }

    @Test func releasesHeldTextThatTurnsOutNotToBeAStop() {
        var matcher = StopSequenceMatcher(stops: ["STOP"])
        #expect(matcher.feed("ab ST") == ("ab ", false))
        #expect(matcher.feed("ART") == ("START", false))
        #expect(run(["STOP"], ["tail ST"]) == ("tail ST", false))
    }

    @Test func theEarliestOfSeveralStopsWins() {
        #expect(run(["world", "lo w"], ["hello world"]) == ("hel", true))
        #expect(run(["xyz", "b"], ["a", "bc"]) == ("a", true))
    }

    @Test func withoutStopsEverythingPassesAtOnce() {
        var matcher = StopSequenceMatcher(stops: ["", ""])
        #expect(matcher.feed("anything") == ("anything", false))
    }

    @Test func unicodeIsNeverCutInHalf() {
        #expect(run(["🙂"], ["héllo 🙂 there"]) == ("héllo ", true))
        #expect(run(["日本"], ["これは日", "本です"]) == ("これは", true))
    }
}
