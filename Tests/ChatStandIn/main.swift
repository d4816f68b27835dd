import Foundation
import SkiffChatTestSupport

// `chat-standin [--port N]`: the tests' OpenAI-compatible stand-in as a process of its own, for the chat
// tier's process tests, browser tests and benchmark. It prints `listening on PORT` once it accepts
// connections and runs until SIGTERM or SIGINT. A test tool: no product ships it.
var port = 0
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    guard argument == "--port", let value = arguments.popFirst().flatMap(Int.init), (0...65535).contains(value) else {
        FileHandle.standardError.write(Data("usage: chat-standin [--port N]\n".utf8))
        exit(2)
    }
    port = value
}
try await StandInUpstream.with(port: port) { standIn in
    FileHandle.standardOutput.write(Data("listening on \(standIn.port)\n".utf8))
    for await _ in standIn.stopped {}
}
