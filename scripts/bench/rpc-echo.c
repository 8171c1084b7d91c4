// The baseline for scripts/bench-rpc: a minimal newline echo server on a unix socket.
// One thread, epoll, every complete line written straight back. Close to the physical
// limit of a line protocol on a unix socket, so Baton's figures are read against it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUFFER 65536

struct conn { int fd; size_t held; char buf[BUFFER]; };

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        data += n; len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: rpc-echo SOCKET\n"); return 2; }
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
    unlink(argv[1]);
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 128) != 0) {
        perror("rpc-echo: bind"); return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    struct epoll_event events[64];
    for (;;) {
        int ready = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < ready; i++) {
            struct conn *c = events[i].data.ptr;
            if (c == NULL) {
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) continue;
                c = calloc(1, sizeof(*c));
                c->fd = fd;
                struct epoll_event cev = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                continue;
            }
            ssize_t n = read(c->fd, c->buf + c->held, BUFFER - c->held);
            if (n <= 0) { close(c->fd); free(c); continue; }
            c->held += (size_t)n;
            char *last = memrchr(c->buf, '\n', c->held);
            if (last == NULL) { if (c->held == BUFFER) c->held = 0; continue; }
            size_t complete = (size_t)(last - c->buf) + 1;
            if (write_all(c->fd, c->buf, complete) != 0) { close(c->fd); free(c); continue; }
            memmove(c->buf, c->buf + complete, c->held - complete);
            c->held -= complete;
        }
    }
}
