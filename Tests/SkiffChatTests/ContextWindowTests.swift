import SkiffChatUpstream
import Testing

@testable import SkiffChat

@Suite struct ContextWindowTests {
    /// A word a token, four a message, as the stand-in's tokenizer counts.
    static func words(_ turns: [ChatTurn]) -> Int {
        turns.reduce(2) { $0 + 4 + $1.content.split(separator: " ").count }
    }

    static func turn(_ role: String, words count: Int) -> ChatTurn {
        ChatTurn(role: role, content: Array(repeating: "word", count: count).joined(separator: " "))
    }

    /// user, assistant, user, assistant, ... of `count` turns, each of `words` words.
    static func history(_ count: Int, words: Int) -> [ChatTurn] {
        (0..<count).map { turn($0 % 2 == 0 ? "user" : "assistant", words: words) }
    }

    @Test func aConversationThatFitsIsSentWholeWithoutAskingTheTokenizer() async throws {
        let window = ContextWindow(contextLength: 8192, maxTokens: nil)
        #expect(window.answerReserve == 1024)
        var asked = 0
        let history = Self.history(5, words: 10)
        let (turns, omitted) = await window.fit(system: ChatTurn(role: "system", content: "Be brief."), history: history) {
            asked += 1
            return Self.words($0)
        }
        #expect(omitted == 0)
        #expect(turns.count == 6)
        #expect(asked == 0)
    }

    @Test(arguments: [2, 3, 7, 20, 51, 200])
    func theNewestTurnsThatFitAreSentFromAUserTurnOn(turnCount: Int) async throws {
        let window = ContextWindow(contextLength: 1000, maxTokens: 200)
        let system = ChatTurn(role: "system", content: "Be brief.")
        let history = Self.history(turnCount - (turnCount % 2 == 0 ? 1 : 0), words: 70)
        var asked = 0
        let (turns, omitted) = await window.fit(system: system, history: history) {
            asked += 1
            return Self.words($0)
        }
        #expect(turns.first == system)
        #expect(turns.count == 1 + history.count - omitted)
        #expect(Array(turns.dropFirst()) == Array(history.suffix(history.count - omitted)))
        #expect(turns[1].role == "user")
        #expect(Self.words(turns) <= 800)
        // The largest such window: one more user turn and its answer would not fit.
        if omitted >= 2 {
            #expect(Self.words([system] + history.suffix(history.count - omitted + 2)) > 800)
        }
        // Bisection: a logarithmic number of counts.
        #expect(asked <= 2 + (Int.bitWidth - history.count.leadingZeroBitCount))
    }

    @Test func aNewestTurnTooLongForTheContextIsSentAloneForTheServiceToRefuse() async throws {
        let window = ContextWindow(contextLength: 300, maxTokens: 50)
        let history = Self.history(4, words: 20) + [Self.turn("user", words: 400)]
        let (turns, omitted) = await window.fit(system: nil, history: history) { Self.words($0) }
        #expect(omitted == 4)
        #expect(turns == [history[4]])
    }

    @Test func aConversationOfOneTurnIsSentAsItIs() async throws {
        let window = ContextWindow(contextLength: 300, maxTokens: 50)
        let history = [Self.turn("user", words: 400)]
        let (turns, omitted) = await window.fit(system: nil, history: history) { Self.words($0) }
        #expect(omitted == 0)
        #expect(turns == history)
    }

    @Test func theEstimateErrsTowardsMoreTokensThanTheBoundAllows() {
        let turns = [Self.turn("user", words: 100)]
        #expect(ContextWindow.tokenEstimate(turns) >= 100)
        #expect(ContextWindow.tokenBound(turns) >= ContextWindow.tokenEstimate(turns))
    }
}
