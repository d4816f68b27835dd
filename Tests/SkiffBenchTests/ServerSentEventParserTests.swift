import Testing
@testable import SkiffBench

@Suite struct ServerSentEventParserTests {
    /// Feeds `text` in pieces of `size` bytes and collects the events.
    func events(_ text: String, piecesOf size: Int) -> [String] {
        var parser = ServerSentEventParser()
        let bytes = Array(text.utf8)
        return stride(from: 0, to: bytes.count, by: size).flatMap { start in
            parser.consume(bytes[start..<min(start + size, bytes.count)]).map(\.data)
        }
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func eventsSurviveAnySplit(size: Int) {
        let stream = """
            : keep-alive\r\n\r\ndata: {"a":1}\r\n\r\ndata:{"b":2}\n\nevent: message\rdata: first\rdata:  second\r\r\
            id: 3\n\ndata: [DONE]\n\ndata: unfinished
            """
        #expect(events(stream, piecesOf: size) == [#"{"a":1}"#, #"{"b":2}"#, "first\n second", "[DONE]"])
    }

    @Test func aCRLFCutBetweenCRAndLFEndsOneLine() {
        var parser = ServerSentEventParser()
        #expect(parser.consume(Array("data: x\r".utf8)).isEmpty)
        #expect(parser.consume(Array("\n".utf8)).isEmpty)
        #expect(parser.consume(Array("\r\n".utf8)) == [ServerSentEvent(data: "x")])
    }

    @Test func aFieldWithoutColonAndEmptyDataAreHandled() {
        #expect(events("data\n\ndata:\ndata\n\n", piecesOf: 4) == ["", "\n"])
    }
}
