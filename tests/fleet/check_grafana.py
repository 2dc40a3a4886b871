#!/usr/bin/env python3
"""check_grafana.py DASHBOARD.json METRICS.txt - validate the fleet dashboard.

Checks that the Grafana dashboard is well formed (title, uid, panels with
ids, a Prometheus datasource variable every query uses) and that every tpsd
metric its queries and variables name is a family that tpsd's /metrics
exports (the METRICS.txt exposition, read from a live daemon), and that the
figures the fleet view is for (decode and e2e speed, TTFT, queue depth,
regressions, stability verdicts) each have a panel. Exit 1 with a message
per problem.
"""
import json
import re
import sys

WANTED = [
    "tpsd_last_decode_tokens_per_second",
    "tpsd_last_e2e_tokens_per_second",
    "tpsd_last_ttft_seconds",
    "tpsd_jobs",
    "tpsd_regression_active",
    "tpsd_stability_leak",
    "tpsd_stability_decode_drift_percent_per_hour",
]
# Names that may follow tpsd_ in an expression but are not series: none yet.
NAME = re.compile(r"\btpsd_[a-z0-9_]+\b")


def panels(node):
    for p in node.get("panels", []):
        yield p
        yield from panels(p)


def main():
    dash = json.load(open(sys.argv[1], encoding="utf-8"))
    exported = set()
    for line in open(sys.argv[2], encoding="utf-8"):
        m = re.match(r"# TYPE (\S+) \S+", line)
        if m:
            exported.add(m.group(1))
    problems = []
    for key in ("title", "uid", "schemaVersion", "panels", "templating"):
        if key not in dash:
            problems.append("dashboard has no %r" % key)
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if ds is None or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no 'datasource' variable of Prometheus datasources")
    used = set()
    ids = set()
    for p in panels(dash):
        if p.get("type") == "row":
            continue
        pid = p.get("id")
        if pid in ids:
            problems.append("panel id %r twice" % pid)
        ids.add(pid)
        if not p.get("targets"):
            problems.append("panel %r has no queries" % p.get("title"))
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            if not expr:
                problems.append("panel %r: a query with no expr" % p.get("title"))
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append("panel %r: a query not on ${datasource}" % p.get("title"))
            used.update(NAME.findall(expr))
    for v in variables.values():
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        if isinstance(q, str):
            used.update(NAME.findall(q))
    for name in sorted(used - exported):
        problems.append("queries name %s, which /metrics does not export" % name)
    for name in WANTED:
        if name not in used:
            problems.append("no panel shows %s" % name)
    for msg in problems:
        print("check_grafana: " + msg, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
