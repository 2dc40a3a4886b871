#!/usr/bin/env bash
# Stops and removes the tpsd LaunchAgent or systemd user unit. Keeps the database.
set -eu
case "$(uname -s)" in
Darwin)
    label=com.tpsd.daemon
    launchctl bootout "gui/$(id -u)/$label" 2>/dev/null || true
    rm -f "$HOME/Library/LaunchAgents/$label.plist"
    echo "removed $label"
    ;;
Linux)
    systemctl --user disable --now tpsd.service 2>/dev/null || true
    rm -f "$HOME/.config/systemd/user/tpsd.service"
    systemctl --user daemon-reload 2>/dev/null || true
    echo "removed tpsd.service"
    ;;
esac
