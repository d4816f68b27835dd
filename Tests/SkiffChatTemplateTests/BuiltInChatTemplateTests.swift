import SkiffChatTemplate
import Testing

/// The built-in formats render a conversation as their families' own templates do.
@Suite struct BuiltInChatTemplateTests {
    static let conversation = [
        ChatMessage(role: "system", content: "Be brief."),
        ChatMessage(role: "user", content: "Hi "),
        ChatMessage(role: "assistant", content: "Hello."),
        ChatMessage(role: "user", content: "17 × 3?"),
    ]

    @Test(arguments: [
        (BuiltInChatTemplate.chatml,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
             + "<|im_start|>user\n17 × 3?<|im_end|>\n<|im_start|>assistant\n"),
        (.gemma,
         "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
             + "<start_of_turn>user\n17 × 3?<end_of_turn>\n<start_of_turn>model\n"),
        (.llama3,
         "<bos><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
             + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n17 × 3?<|eot_id|>"
             + "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ])
    func rendersTheFamilysTurns(template: BuiltInChatTemplate, expected: String) throws {
        let text = try template.template.render(messages: Self.conversation, addGenerationPrompt: true, bosToken: "<bos>", eosToken: "<eos>")
        #expect(text == expected)
        #expect(text.contains(template.turnMarker))
    }

    /// Without a generation prompt the text ends with the last turn.
    @Test(arguments: BuiltInChatTemplate.allCases)
    func noGenerationPromptEndsWithTheLastTurn(template: BuiltInChatTemplate) throws {
        let text = try template.template.render(messages: Self.conversation, addGenerationPrompt: false, bosToken: "", eosToken: "")
        #expect(text.hasSuffix("17 × 3?<|im_end|>\n") || text.hasSuffix("17 × 3?<end_of_turn>\n") || text.hasSuffix("17 × 3?<|eot_id|>"))
    }
}
