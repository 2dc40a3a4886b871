/*
 * watch.h - follow a job's events to its end and print them: the display
 * of `tpsd watch` and `tpsd submit --watch`. Calls rest.h and the SSE
 * parser (daemon/sse.h).
 */
#ifndef TPSD_WATCH_H
#define TPSD_WATCH_H

#include "daemon/cli/rest.h"

/*
 * Follow job `id` on the daemon cl names: one line per event (cl->json:
 * one JSON object per event; on a terminal, measured samples redraw one
 * status line), reconnecting with Last-Event-ID when the stream breaks or
 * the daemon restarts. Returns the exit status of the job's final state:
 * 0 succeeded, EXIT_WORK_FAILED failed (or the daemon refused),
 * EXIT_CANCELLED, EXIT_INTERRUPTED, or EXIT_UNAVAILABLE when the daemon
 * cannot be reached (printed).
 */
int watch_job(const struct rest *cl, long long id);

#endif
