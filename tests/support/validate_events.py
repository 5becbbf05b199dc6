"""Validate deployctl's --output json lines (stdin) against docs/events.schema.json.

Prints one line per invalid event and exits 1 when any is invalid; also checks the stream's
shape: exactly one `summary`, and it is the last line.
"""
import json
import sys

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
    bad = 0
    events = []
    for n, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"line {n}: not JSON ({e}): {line[:200]}")
            bad += 1
            continue
        events.append(event)
        errors = sorted(validator.iter_errors(event), key=lambda e: list(e.path))
        for e in errors:
            where = "/".join(str(p) for p in e.path) or "(the object)"
            kind = event.get("event") if isinstance(event, dict) else None
            print(f"line {n} ({kind!r}) at {where}: {e.message[:300]}")
            bad += 1
    summaries = [i for i, e in enumerate(events) if isinstance(e, dict) and e.get("event") == "summary"]
    if len(summaries) != 1:
        print(f"{len(summaries)} summary objects (want exactly 1)")
        bad += 1
    elif summaries[0] != len(events) - 1:
        print("the summary is not the last line")
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
