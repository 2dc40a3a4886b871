/* fd.c - see fd.h. */
#include "common/fd.h"

#include <fcntl.h>

int
fd_cloexec(int fd)
{
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int
fd_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl == -1)
        return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}
