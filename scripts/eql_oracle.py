#!/usr/bin/env python3
"""EQL oracle driver: evaluates a batch of EQL event queries on a batch of events with Elastic's
reference implementation (the `eql` package, installed by scripts/eql-oracle.sh).

stdin:  {"queries": [{"query": str, "insensitive": bool}], "events": [object, ...]}
stdout: {"results": [[verdict per event] per query]} where a verdict is true, false, null (the
        condition evaluated to null) or {"error": str} (eql refused the query).

`eql` has one global case mode (eql.utils.CASE_INSENSITIVE) where Elasticsearch decides per
operator (`==` sensitive; `:` and the `~` forms insensitive). The Rust test marks each query
with the mode its string operators need and never mixes the two in one query.
"""
import json
import sys

import eql
import eql.utils
from eql.engine import PythonEngine, Scope
from eql.parser import elasticsearch_syntax, ignore_missing_fields, parse_query


def verdicts(spec, events):
    eql.utils.CASE_INSENSITIVE = bool(spec.get("insensitive"))
    try:
        with elasticsearch_syntax, ignore_missing_fields:
            parsed = parse_query(spec["query"])
        callback = PythonEngine().convert(parsed.first.query)
    except Exception as e:  # noqa: BLE001 - any refusal is reported, not fatal
        return [{"error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")}] * len(events)
    out = []
    for doc in events:
        category = (doc.get("event") or {}).get("category") if isinstance(doc.get("event"), dict) else None
        event = eql.Event(category or "any", 0, doc)
        try:
            result = callback(Scope([event], []))
        except Exception as e:  # noqa: BLE001
            result = {"error": "%s: %s" % (type(e).__name__, e)}
        if result is not None and not isinstance(result, (bool, dict)):
            result = bool(result)
        out.append(result)
    return out


def main():
    batch = json.load(sys.stdin)
    results = [verdicts(q, batch["events"]) for q in batch["queries"]]
    json.dump({"eql_version": eql.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
