"""Drives `skiff serve` with the official OpenAI Python client; exits non-zero on the first mismatch.

Usage: openai_client_check.py BASE_URL API_KEY MODEL TIMEOUT_SECONDS
"""
import sys

import openai

base_url, api_key, model, timeout = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=float(timeout))
question = [{"role": "user", "content": "Say hello."}]


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


models = client.models.list()
check([m.id for m in models.data] == [model], f"models.list gives the served model, got {models.data}")

chat = client.chat.completions.create(model=model, messages=question, max_tokens=12, temperature=0)
check(chat.object == "chat.completion", "chat object")
check(chat.choices[0].message.role == "assistant", "assistant role")
check(isinstance(chat.choices[0].message.content, str) and chat.choices[0].message.content, "chat content")
check(chat.choices[0].finish_reason in ("stop", "length"), "finish reason")
check(chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, "usage adds up")

stream = client.chat.completions.create(model=model, messages=question, max_tokens=12, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
check("".join(pieces) == chat.choices[0].message.content, "streamed greedy text equals the whole answer")
check(finish == chat.choices[0].finish_reason, "streamed finish reason")
check(usage is not None and usage.completion_tokens == chat.usage.completion_tokens, "streamed usage")

text = client.completions.create(model=model, prompt="The capital of France is", max_tokens=6, temperature=0)
check(text.object == "text_completion" and isinstance(text.choices[0].text, str), "text completion")
streamed = "".join(c.choices[0].text for c in client.completions.create(
    model=model, prompt="The capital of France is", max_tokens=6, temperature=0, stream=True) if c.choices)
check(streamed == text.choices[0].text, "streamed text completion equals the whole one")

stopped = client.completions.create(model=model, prompt="Count: 1, 2, 3, 4, 5,", max_tokens=16, temperature=0,
                                    stop=[" 8"])
check(" 8" not in stopped.choices[0].text and stopped.choices[0].finish_reason == "stop", "stop sequence")

probs = client.chat.completions.create(model=model, messages=question, max_tokens=4, temperature=0, logprobs=True,
                                       top_logprobs=2)
content = probs.choices[0].logprobs.content
check(len(content) == probs.usage.completion_tokens and all(len(t.top_logprobs) == 2 for t in content), "logprobs")

try:
    client.chat.completions.create(model="no-such-model", messages=question, max_tokens=1)
    check(False, "an unknown model is refused")
except openai.NotFoundError as error:
    check(error.body and error.body.get("code") == "model_not_found", f"model_not_found code, got {error.body}")

try:
    client.chat.completions.create(model=model, messages=question, temperature=5)
    check(False, "temperature 5 is refused")
except openai.BadRequestError as error:
    check(error.body and error.body.get("param") == "temperature", f"param names the field, got {error.body}")

try:
    openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    check(False, "a wrong key is refused")
except openai.AuthenticationError:
    pass

print("ok")
