#ifndef BATON_PIDFD_H
#define BATON_PIDFD_H

#include <sys/types.h>

/// A descriptor for process `pid` that becomes readable once it has exited (pidfd_open(2)),
/// or -1 with errno set. Swift cannot call the variadic syscall(2) itself.
int baton_pidfd_open(pid_t pid);

/// Sends `signal` to the process behind `pidfd`, which cannot be a reused pid
/// (pidfd_send_signal(2)). Returns 0, or -1 with errno set.
int baton_pidfd_send_signal(int pidfd, int signal);

#endif
