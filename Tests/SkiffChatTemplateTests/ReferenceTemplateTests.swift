import Testing

@testable import SkiffChatTemplate

/// Real Hugging Face chat templates rendered against Python Jinja2's output, byte for byte.
@Suite("Real chat templates match Python Jinja2")
struct ReferenceTemplateTests {
    @Test("Conversation renders like transformers' apply_chat_template", arguments: try Fixtures.conversationCases())
    func conversation(_ testCase: ConversationCase) {
        testCase.expected.verify(renderForTest(testCase.source, testCase.variables))
    }

    @Test("The public render API gives the same text as the fixture path", arguments: try Fixtures.conversationCases())
    func publicAPI(_ testCase: ConversationCase) throws {
        guard let messages = testCase.plainMessages,
            case .bool(let addGenerationPrompt)? = testCase.variables["add_generation_prompt"],
            case .string(let bos)? = testCase.variables["bos_token"],
            case .string(let eos)? = testCase.variables["eos_token"]
        else { return }
        var extra = testCase.variables
        for name in ["messages", "add_generation_prompt", "bos_token", "eos_token"] { extra[name] = nil }
        let template = try ChatTemplate(source: testCase.source)
        let viaPublicAPI = Result { () throws(ChatTemplateError) in
            try template.render(
                messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bos, eosToken: eos,
                extraVariables: extra)
        }
        let viaVariables = Result { () throws(ChatTemplateError) in
            try template.render(variables: testCase.variables, clock: .current, limits: .standard)
        }
        switch (viaPublicAPI, viaVariables) {
        case (.success(let a), .success(let b)): #expect(a == b)
        case (.failure(let a), .failure(let b)): #expect(a == b)
        default: Issue.record("public API gave \(viaPublicAPI), variables gave \(viaVariables)")
        }
    }

    @Test("Every reference template parses", arguments: [
        "smollm2-135m-instruct", "gemma-3-it", "llama-3.1-8b-instruct", "llama-3.2-3b-instruct",
        "qwen2.5-7b-instruct", "mistral-7b-instruct-v0.3",
    ])
    func parses(_ name: String) throws {
        _ = try ChatTemplate(source: try Fixtures.text("templates/\(name).jinja"))
    }

    @Test("Mistral rejects non-alternating roles with the template's own message")
    func mistralRaises() throws {
        let template = try ChatTemplate(source: try Fixtures.text("templates/mistral-7b-instruct-v0.3.jinja"))
        let messages = [
            ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b"),
        ]
        let error = #expect(throws: ChatTemplateError.self) {
            try template.render(messages: messages, addGenerationPrompt: false, bosToken: "<s>", eosToken: "</s>")
        }
        #expect(error?.code == .raisedByTemplate)
        #expect(
            error?.message
                == "After the optional system message, conversation roles must alternate user/assistant/user/assistant/...")
        #expect(error?.description.contains("template raised an exception: After the optional system message") == true)
    }
}
