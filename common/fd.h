/*
 * fd.h - a descriptor's close-on-exec and non-blocking flags, set one way
 * everywhere: fcntl(F_SETFD) and fcntl(F_GETFL/F_SETFL), the same on Linux
 * and macOS. Used for the API's listening socket, the client's sockets
 * and the subprocess pipes. Calls nothing of ours.
 */
#ifndef TPSD_FD_H
#define TPSD_FD_H

/* Make fd close-on-exec. 0, or -1 with errno set. */
int fd_cloexec(int fd);

/* Set (on != 0) or clear O_NONBLOCK on fd, keeping its other status
 * flags. 0, or -1 with errno set. */
int fd_nonblock(int fd, int on);

#endif
