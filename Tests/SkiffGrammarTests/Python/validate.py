"""Validates instances against JSON schemas with the `jsonschema` package (draft 2020-12, formats checked).

Reads a JSON file: a list of {"schema": ..., "instances": ["json text", ...]}. Prints one line per instance
that does not parse or does not validate, and exits 1 if there was any."""

import json
import sys

import jsonschema

failures = 0
for case in json.load(open(sys.argv[1])):
    validator = jsonschema.Draft202012Validator(case["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for text in case["instances"]:
        try:
            instance = json.loads(text)
        except ValueError as error:
            print(f"not JSON: {text!r}: {error}")
            failures += 1
            continue
        errors = [e.message for e in validator.iter_errors(instance)]
        if errors:
            print(f"invalid: {text!r} under {json.dumps(case['schema'])}: {errors[0]}")
            failures += 1
sys.exit(1 if failures else 0)
