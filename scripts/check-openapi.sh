#!/usr/bin/env bash
# Checks docs/openapi.json against the route table of api/routes.c: every
# route is documented with its method, every operation lists the error
# answers every route can give (400, 401, 405, 421, 500, 503), and every
# error code the handlers use appears in the Error schema's description.
set -eu
root=${1:-.}
python3 - "$root/api" "$root/docs/openapi.json" <<'PY'
import glob, json, re, sys
api, doc = sys.argv[1], json.load(open(sys.argv[2]))
routes = re.findall(r'\{\s*"(GET|POST|PUT|DELETE)",\s*"([^"]+)",\s*\w+\s*(?:,\s*\w+\s*)?\}',
                    open(api + "/routes.c").read())
assert routes, "no routes found in api/routes.c"
bad = []
for method, path in routes:
    op = doc["paths"].get(path, {}).get(method.lower())
    if op is None:
        bad.append("%s %s is not documented" % (method, path))
        continue
    if path.startswith("/v1/") and path != "/v1/openapi.json":
        for code in ("400", "401", "405", "421", "500", "503"):
            if code not in op.get("responses", {}):
                bad.append("%s %s: no %s answer" % (method, path, code))
codes = set()
for f in glob.glob(api + "/*.c"):
    codes |= set(re.findall(r'(?:api_reply_error|reply_error_h)\(r, \d+, "([a-z_]+)"', open(f).read()))
    codes |= set(re.findall(r'"code", "([a-z_]+)"', open(f).read()))
listed = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["description"]
for c in sorted(codes):
    if c not in listed:
        bad.append("error code %s is not listed in the Error schema" % c)
for b in bad:
    print("check-openapi: " + b)
sys.exit(1 if bad else 0)
PY
