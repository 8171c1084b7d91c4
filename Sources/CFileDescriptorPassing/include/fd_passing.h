#ifndef BATON_FD_PASSING_H
#define BATON_FD_PASSING_H

#include <stddef.h>
#include <sys/types.h>

/// Sends `length` bytes of `data` with `count` file descriptors attached (SCM_RIGHTS) on the
/// unix socket `socket`. Returns the bytes sent, or -1 with errno set.
ssize_t baton_send_with_fds(int socket, const void *data, size_t length, const int *fds, int count);

/// Receives up to `capacity` bytes into `data` and up to `max_fds` descriptors into `fds`
/// (their number in `*count`). Returns the bytes received, or -1 with errno set. Received
/// descriptors are close-on-exec.
ssize_t baton_receive_with_fds(int socket, void *data, size_t capacity, int *fds, int max_fds, int *count);

#endif
