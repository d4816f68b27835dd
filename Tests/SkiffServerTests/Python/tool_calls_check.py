"""Tool calling through the official OpenAI Python client; exits non-zero on the first mismatch.

Usage: tool_calls_check.py BASE_URL API_KEY MODEL TIMEOUT_SECONDS

A tool loop (a call under tool_choice naming the function, the tool's result sent back, an answer), and a streamed
call whose deltas the client's stream helpers reassemble into the same shape as a whole answer.
"""
import json
import sys

import openai

base_url, api_key, model, timeout = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=float(timeout))
tools = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30}}, "required": ["city"],
                   "additionalProperties": False}}}]
question = [{"role": "user", "content": "What is the weather in Paris?"}]
forced = {"type": "function", "function": {"name": "get_weather"}}


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")


first = client.chat.completions.create(model=model, messages=question, tools=tools, tool_choice=forced, max_tokens=60, seed=7)
choice = first.choices[0]
check(choice.finish_reason == "tool_calls", f"a forced call ends with tool_calls, got {choice.finish_reason}: {choice.message}")
call = choice.message.tool_calls[0]
check(call.type == "function" and call.function.name == "get_weather", f"the call names the function: {call}")
check(isinstance(json.loads(call.function.arguments).get("city"), str), f"its arguments hold a city: {call.function.arguments}")

history = question + [choice.message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 18, "sky": "clear"})}]
second = client.chat.completions.create(model=model, messages=history, tools=tools, tool_choice="none", max_tokens=30, seed=7)
check(second.choices[0].message.content, f"the answer after the tool's result is text: {second.choices[0].message}")
check(not second.choices[0].message.tool_calls, "no call when tool_choice is none")

with client.chat.completions.stream(model=model, messages=question, tools=tools, tool_choice=forced, max_tokens=60, seed=7) as stream:
    for _ in stream:
        pass
    final = stream.get_final_completion()
streamed = final.choices[0]
check(streamed.finish_reason == "tool_calls", f"the streamed call ends with tool_calls, got {streamed.finish_reason}")
check(streamed.message.tool_calls[0].function.name == "get_weather", "the streamed call's name")
check(isinstance(json.loads(streamed.message.tool_calls[0].function.arguments).get("city"), str),
      f"the streamed call's arguments reassemble: {streamed.message.tool_calls[0].function.arguments}")
print("ok")
