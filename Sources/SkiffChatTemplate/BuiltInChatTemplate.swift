/// Chat formats Skiff knows by name, for model files without a `tokenizer.chat_template` (and for
/// `--chat-template NAME`). Each renders the turns the way its family's own template does.
public enum BuiltInChatTemplate: String, Sendable, CaseIterable {
    /// `<|im_start|>role\n…<|im_end|>\n` turns (Qwen, SmolLM, many fine-tunes).
    case chatml
    /// Gemma's `<start_of_turn>user\n…<end_of_turn>\n` turns, the assistant called `model`, a system
    /// message folded into the first user turn.
    case gemma
    /// Llama 3's `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` turns.
    case llama3

    /// The template's Jinja source.
    public var source: String {
        switch self {
        case .chatml:
            """
            {%- for message in messages -%}
            {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}
            """
        case .gemma:
            """
            {{- bos_token -}}
            {%- set ns = namespace(prefix='') -%}
            {%- for message in messages -%}
            {%- if message['role'] == 'system' -%}
            {%- set ns.prefix = message['content'] + '\\n\\n' -%}
            {%- else -%}
            {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
            {{- '<start_of_turn>' + role + '\\n' + ns.prefix + message['content'] | trim + '<end_of_turn>\\n' -}}
            {%- set ns.prefix = '' -%}
            {%- endif -%}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}
            """
        case .llama3:
            """
            {{- bos_token -}}
            {%- for message in messages -%}
            {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' -}}
            {%- endfor -%}
            {%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}
            """
        }
    }

    /// The token that marks this format's turns, by which a vocabulary shows it was trained on it.
    public var turnMarker: String {
        switch self {
        case .chatml: "<|im_start|>"
        case .gemma: "<start_of_turn>"
        case .llama3: "<|start_header_id|>"
        }
    }

    /// The parsed template.
    public var template: ChatTemplate {
        // The sources above are fixed and parse; the built-in tests render each one.
        try! ChatTemplate(source: source)
    }
}
