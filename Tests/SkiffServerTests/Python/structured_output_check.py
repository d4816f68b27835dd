"""Structured output through the official OpenAI Python client, validated with the jsonschema package.

Usage: structured_output_check.py BASE_URL API_KEY MODEL TIMEOUT_SECONDS

1. `client.chat.completions.parse()` with Pydantic models (nested models, lists, enums, optional fields) returns
   parsed objects for every answer that ends by itself.
2. A set of schemas (nested, arrays, enums, $defs, anyOf, bounds, formats) times several prompts at temperature
   0.8: every answer that ends by itself parses and validates; answers cut off at max_tokens are counted.
Prints one line of counts and "ok", or exits non-zero naming the first answer that breaks its schema.
"""
import enum
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

import jsonschema
import openai
import pydantic

base_url, api_key, model, timeout = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=float(timeout))


class Colour(str, enum.Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Address(pydantic.BaseModel):
    street: str
    city: str


class Person(pydantic.BaseModel):
    name: str
    age: int
    favourite: Colour
    address: Address
    nicknames: List[str]
    email: Optional[str]


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class Solution(pydantic.BaseModel):
    steps: List[Step]
    final_answer: str


SCHEMAS = {
    "flat": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 60}, "year": {"type": "integer", "minimum": 1900, "maximum": 2030},
                                              "rating": {"type": "number", "minimum": 0, "maximum": 10}},
             "required": ["title", "year", "rating"], "additionalProperties": False},
    "nested-arrays": {"type": "object", "properties": {"team": {"type": "string"}, "members": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
        "type": "object", "properties": {"name": {"type": "string"}, "role": {"enum": ["lead", "dev", "test"]}}, "required": ["name", "role"],
        "additionalProperties": False}}}, "required": ["team", "members"], "additionalProperties": False},
    "defs-and-refs": {"$defs": {"point": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["x", "y"],
                                          "additionalProperties": False}},
                      "type": "object", "properties": {"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}},
                      "required": ["start", "end"], "additionalProperties": False},
    "any-of": {"type": "object", "properties": {"result": {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 20}, {"type": "null"}]},
                                                "ok": {"type": "boolean"}}, "required": ["result", "ok"], "additionalProperties": False},
    "formats": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "when": {"type": "string", "format": "date"},
                                                 "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}},
                "required": ["id", "when", "code"], "additionalProperties": False},
    "list-of-enums": {"type": "array", "items": {"enum": ["north", "south", "east", "west"]}, "minItems": 2, "maxItems": 5},
}
PROMPTS = [
    "Give an example that fits the format.",
    "Make up a record for a test database.",
]


def fail(what):
    sys.exit(f"FAILED: {what}")


# 1. Pydantic models through parse().
parsed, parse_cut = 0, 0
for target, question in [(Person, "Invent a person."), (Solution, "Solve 8x + 7 = -23 step by step.")]:
    try:
        completion = client.chat.completions.parse(model=model, messages=[{"role": "user", "content": question}], response_format=target,
                                                   max_tokens=250, temperature=0.8, seed=5)
    except openai.LengthFinishReasonError:
        parse_cut += 1  # the client refuses to parse an answer cut off at max_tokens
        continue
    choice = completion.choices[0]
    if choice.finish_reason != "stop" or not isinstance(choice.message.parsed, target):
        fail(f"parse() with {target.__name__} gave {choice.finish_reason}: {choice.message.content!r}")
    parsed += 1

# 2. Schemas × prompts at temperature 0.8, answered concurrently.
def ask(case):
    (name, schema), prompt, seed = case
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=160, temperature=0.8, seed=seed,
        response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}})
    return name, schema, response.choices[0]


cases = [(item, prompt, seed) for seed, item in enumerate(SCHEMAS.items()) for prompt in PROMPTS]
valid, cut = 0, 0
with ThreadPoolExecutor(max_workers=4) as pool:
    for name, schema, choice in pool.map(ask, cases):
        if choice.finish_reason == "length":
            cut += 1
            continue
        if choice.finish_reason != "stop":
            fail(f"{name}: finish_reason {choice.finish_reason}")
        try:
            value = json.loads(choice.message.content)
            jsonschema.validate(value, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        except (ValueError, jsonschema.ValidationError) as error:
            fail(f"{name}: {choice.message.content!r}: {error}")
        valid += 1

print(f"parse: {parsed} parsed, {parse_cut} cut off; schemas: {valid} of {len(cases)} valid, {cut} cut off at max_tokens")
if parsed == 0 or valid == 0:
    fail("no answer ended by itself")
print("ok")
