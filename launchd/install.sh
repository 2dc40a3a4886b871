#!/usr/bin/env bash
# Installs tpsd as a LaunchAgent (macOS) or a systemd user unit (Linux) and
# starts it. Usage: launchd/install.sh [path/to/tpsd]
# Without a path: the installed tpsd (make install: $PREFIX/bin/tpsd, PREFIX
# defaulting to `brew --prefix` on a Mac, /usr/local elsewhere), else the
# build's (build/tpsd), with a warning: the agent then points into this
# clone and breaks when the clone moves.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PREFIX:-}" ]; then
    PREFIX=/usr/local
    if [ "$(uname -s)" = Darwin ] && command -v brew >/dev/null; then
        PREFIX=$(brew --prefix)
    fi
fi
if [ $# -ge 1 ]; then
    tpsd=$1
elif [ -x "$PREFIX/bin/tpsd" ]; then
    tpsd=$PREFIX/bin/tpsd
else
    tpsd=$here/../build/tpsd
    echo "install: no $PREFIX/bin/tpsd; using the build's $tpsd (run make install to keep the agent working if this clone moves)" >&2
fi
[ -x "$tpsd" ] || { echo "install: $tpsd is not an executable (run make build, or make install, first)" >&2; exit 1; }
tpsd=$(cd "$(dirname "$tpsd")" && pwd)/$(basename "$tpsd")
if [ "${TPSD_INSTALL_DRY_RUN:-}" = 1 ]; then
    echo "$tpsd"
    exit 0
fi

case "$(uname -s)" in
Darwin)
    label=com.tpsd.daemon
    dest="$HOME/Library/LaunchAgents/$label.plist"
    mkdir -p "$HOME/Library/LaunchAgents" "$HOME/Library/Logs/tpsd" \
        "$HOME/Library/Application Support/tpsd"
    sed -e "s#@TPSD@#$tpsd#g" -e "s#@HOME@#$HOME#g" "$here/$label.plist" >"$dest"
    plutil -lint "$dest"
    # launchctl(1): bootout then bootstrap (load/unload are legacy). bootout
    # returns before the old tpsd has drained (ExitTimeOut 30 s); bootstrap
    # fails while the label is still known, so wait for it to go.
    launchctl bootout "gui/$(id -u)/$label" 2>/dev/null || true
    for _ in $(seq 1 40); do
        launchctl print "gui/$(id -u)/$label" >/dev/null 2>&1 || break
        sleep 1
    done
    launchctl bootstrap "gui/$(id -u)" "$dest"
    echo "installed $dest; logs in ~/Library/Logs/tpsd/tpsd.log"
    ;;
Linux)
    dest="$HOME/.config/systemd/user/tpsd.service"
    mkdir -p "$(dirname "$dest")"
    sed -e "s#@TPSD@#$tpsd#g" "$here/tpsd.service" >"$dest"
    systemctl --user daemon-reload
    systemctl --user enable --now tpsd.service
    echo "installed $dest; logs: journalctl --user -u tpsd"
    ;;
*)
    echo "install: unsupported system" >&2
    exit 1
    ;;
esac
