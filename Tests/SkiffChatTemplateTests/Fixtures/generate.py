#!/usr/bin/env python3
"""Writes the expected outputs the SkiffChatTemplate tests compare against, byte for byte.

The reference is Python Jinja2 configured as Hugging Face transformers configures it for
`apply_chat_template` (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
the `generation` tag, globals `raise_exception` and `strftime_now`, transformers' `tojson`), and
rendered with transformers' variables (`messages`, `tools`, `documents`, `add_generation_prompt`,
the special tokens, then the extra variables). Only `strftime_now` differs: it reports the fixed
instant below instead of the current time, so outputs are reproducible.

Inputs (hand-written data):
  templates/*.jinja          chat templates, verbatim
  conversations/NAME.json    {"template": FILE, "cases": [{"name", "messages", "add_generation_prompt",
                             "bos_token", "eos_token", "variables"?}]}
  snippets.json              [{"name", "template", "variables"?}] small templates for language features
Outputs (generated; do not edit):
  expected/NAME.json         {case name: {"output": TEXT} or {"error": {"type": CLASS, "message": TEXT}}}
  expected/snippets.json     same shape, one entry per snippet

Run from anywhere: python3 Tests/SkiffChatTemplateTests/Fixtures/generate.py
"""

import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXTURES = Path(__file__).resolve().parent
# The instant strftime_now reports; the Swift tests use the same one (2025-03-14 15:09:26 UTC).
FIXED_NOW = datetime(2025, 3, 14, 15, 9, 26)


class GenerationTag(jinja2.ext.Extension):
    """transformers' `{% generation %}` block: renders its body (the mask bookkeeping is not needed)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body, lineno=lineno)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def outcome(render):
    try:
        return {"output": render()}
    except Exception as error:  # every failure is recorded as data for the Swift side
        return {"error": {"type": type(error).__name__, "message": str(error)}}


def render_conversation(env, source, case):
    def render():
        template = env.from_string(source)
        kwargs = {"bos_token": case["bos_token"], "eos_token": case["eos_token"], **case.get("variables", {})}
        variables = {"tools": None, "documents": None, **kwargs}
        return template.render(
            messages=case["messages"],
            add_generation_prompt=case["add_generation_prompt"],
            **variables,
        )

    return outcome(render)


def write_json(path, data):
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main():
    env = environment()
    expected_dir = FIXTURES / "expected"
    expected_dir.mkdir(exist_ok=True)
    for conversation_file in sorted((FIXTURES / "conversations").glob("*.json")):
        spec = json.loads(conversation_file.read_text(encoding="utf-8"))
        source = (FIXTURES / "templates" / spec["template"]).read_text(encoding="utf-8")
        results = {case["name"]: render_conversation(env, source, case) for case in spec["cases"]}
        write_json(expected_dir / conversation_file.name, results)
    snippets = json.loads((FIXTURES / "snippets.json").read_text(encoding="utf-8"))
    results = {}
    for snippet in snippets:
        if snippet["name"] in results:
            sys.exit(f"duplicate snippet name {snippet['name']!r}")
        variables = {"tools": None, "documents": None, **snippet.get("variables", {})}
        results[snippet["name"]] = outcome(lambda: env.from_string(snippet["template"]).render(**variables))
    write_json(expected_dir / "snippets.json", results)
    print(f"jinja2 {jinja2.__version__}: wrote expected outputs to {expected_dir}")


if __name__ == "__main__":
    main()
