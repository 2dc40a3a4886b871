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
path = p['EnvironmentVariables']['PATH'].split(':')
# launchd's own PATH lacks lms's and Homebrew's folders (both prefixes).
for d in ('@HOME@/.lmstudio/bin', '/opt/homebrew/bin', '/usr/local/bin', '/usr/bin', '/bin'):
    assert d in path, (d, path)
# The environment overrides a config file's lms: never pin it here.
assert 'TPSD_LMS' not in p['EnvironmentVariables'], p['EnvironmentVariables']
assert p['WorkingDirectory'] == '@HOME@/Library/Application Support/tpsd', p['WorkingDirectory']
assert p['StandardErrorPath'] == '@HOME@/Library/Logs/tpsd/tpsd.log', p['StandardErrorPath']
for k in ('StandardOutPath', 'StandardErrorPath', 'WorkingDirectory'):
    assert k in p, k
print('plist ok')
PY
for s in "$root"/launchd/*.sh; do
    bash -n "$s"
    if command -v shellcheck >/dev/null; then shellcheck "$s"; fi
done
echo "launchd scripts ok"
