/*
 * notify.h - stand-in for the macOS SDK's <notify.h> (Libnotify), which
 * Zig's macOS libc headers do not ship. Used ONLY by scripts/check-macos.sh
 * (-idirafter: a real SDK header, where present, wins); a real Mac build
 * uses the SDK's own file. Holds just what tpsd calls (daemon/sysinfo.c:
 * the thermal pressure level), each declaration copied from Apple's header:
 *
 *   apple-oss-distributions/Libnotify, tag Libnotify-327.0.5 (commit
 *   971c4c573b99e2d898c12ff6cf32a8f17ccb8619), file notify.h:
 *     line 81   #define NOTIFY_STATUS_OK 0
 *     line 109  #define NOTIFY_TOKEN_INVALID -1
 *     line 157  OS_EXPORT uint32_t notify_register_check(const char *name,
 *                                                         int *out_token);
 *     line 264  OS_EXPORT uint32_t notify_cancel(int token);
 *     line 323  OS_EXPORT uint32_t notify_get_state(int token,
 *                                                    uint64_t *state64)
 *               __OSX_AVAILABLE_STARTING(__MAC_10_5,__IPHONE_2_0);
 *   and notify(3) (same repository, notify.3): every call returns a
 *   uint32_t status, NOTIFY_STATUS_OK on success.
 *
 * OS_EXPORT (os/base.h) is visibility("default"); the availability macro
 * only marks 10.5+, below every target we build for, so both are left out.
 * Add a declaration here only after checking it against the same header.
 */
#ifndef TPSD_STUB_NOTIFY_H
#define TPSD_STUB_NOTIFY_H

#include <stdint.h>
#include <sys/cdefs.h>

#define NOTIFY_STATUS_OK 0
#define NOTIFY_TOKEN_INVALID -1

__BEGIN_DECLS
uint32_t notify_register_check(const char *name, int *out_token);
uint32_t notify_cancel(int token);
uint32_t notify_get_state(int token, uint64_t *state64);
__END_DECLS

#endif
