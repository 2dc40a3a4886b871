#!/usr/bin/env bash
# Installs tpsd as a LaunchAgent (macOS) or a systemd user unit (Linux) and
# starts it. Usage: launchd/install.sh [path/to/tpsd]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tpsd=${1:-$here/../build/tpsd}
tpsd=$(cd "$(dirname "$tpsd")" && pwd)/$(basename "$tpsd")
[ -x "$tpsd" ] || { echo "install: $tpsd is not an executable (run make build first)" >&2; exit 1; }

case "$(uname -s)" in
Darwin)
    label=com.tpsd.daemon
    dest="$HOME/Library/LaunchAgents/$label.plist"
    mkdir -p "$HOME/Library/LaunchAgents" "$HOME/Library/Logs/tpsd" \
        "$HOME/Library/Application Support/tpsd"
    sed -e "s#@TPSD@#$tpsd#g" -e "s#@HOME@#$HOME#g" "$here/$label.plist" >"$dest"
    plutil -lint "$dest"
    launchctl bootout "gui/$(id -u)/$label" 2>/dev/null || true
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
