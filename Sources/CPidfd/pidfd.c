#define _GNU_SOURCE
#include "pidfd.h"

#include <sys/syscall.h>
#include <unistd.h>

// Linux's numbers for these calls, the same on every architecture since 5.1, for C
// libraries whose headers do not name them yet.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int baton_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int baton_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}
