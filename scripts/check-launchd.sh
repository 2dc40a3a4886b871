#!/usr/bin/env bash
# Checks launchd/: the plist parses and has the keys tpsd relies on; the
# scripts pass bash -n (and shellcheck where installed).
set -eu
root=${1:-.}
python3 - "$root/launchd/com.tpsd.daemon.plist" <<'PY'
import plistlib, sys
with open(sys.argv[1], 'rb') as f:
    p = plistlib.load(f)
assert p['Label'] == 'com.tpsd.daemon', p['Label']
assert p['ProgramArguments'][1] == 'serve', p['ProgramArguments']
assert p['KeepAlive'] == {'SuccessfulExit': False}, p['KeepAlive']
assert p['RunAtLoad'] is True
assert p['ProcessType'] == 'Interactive'
assert 10 <= p['ThrottleInterval'] <= 60
assert 15 <= p['ExitTimeOut'] <= 120
assert 'PATH' in p['EnvironmentVariables']
assert 'TPSD_LMS' in p['EnvironmentVariables']
for k in ('StandardOutPath', 'StandardErrorPath', 'WorkingDirectory'):
    assert k in p, k
print('plist ok')
PY
for s in "$root"/launchd/*.sh; do
    bash -n "$s"
    if command -v shellcheck >/dev/null; then shellcheck "$s"; fi
done
echo "launchd scripts ok"
