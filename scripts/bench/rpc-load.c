// The load generator for scripts/bench-rpc: CONNECTIONS threads, each keeping DEPTH
// host.ping requests in flight on its own connection for SECONDS, after a host.hello.
// Prints one line: messages per second, then p50 and p99 round-trip latency in µs.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *socket_path;
static int depth;
static double seconds;
static const char *hello =
    "{\"jsonrpc\":\"2.0\",\"id\":-1,\"method\":\"host.hello\",\"params\":{\"protocol\":\"baton/1\","
    "\"role\":\"router\",\"client\":{\"name\":\"rpc-load\",\"version\":\"1\"}}}\n";

struct worker { pthread_t thread; uint64_t done; uint32_t *latencies; size_t count, capacity; };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int request(char *out, int64_t id) {
    return sprintf(out, "{\"jsonrpc\":\"2.0\",\"method\":\"host.ping\",\"id\":%lld}\n", (long long)id);
}

static int64_t parse_id(const char *line, const char *end) {
    const char *key = memmem(line, (size_t)(end - line), "\"id\":", 5);
    return key ? strtoll(key + 5, NULL, 10) : -2;
}

static void *run(void *arg) {
    struct worker *w = arg;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strncpy(addr.sun_path, socket_path, sizeof(addr.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) { perror("rpc-load: connect"); exit(1); }
    char *buf = malloc(1 << 20);
    if (write(fd, hello, strlen(hello)) < 0) exit(1);
    size_t held = 0;
    for (;;) {  // wait for the hello answer
        ssize_t n = read(fd, buf + held, (1 << 20) - held);
        if (n <= 0) { fprintf(stderr, "rpc-load: no hello answer\n"); exit(1); }
        held += (size_t)n;
        char *nl = memchr(buf, '\n', held);
        if (nl) { size_t used = (size_t)(nl - buf) + 1; memmove(buf, nl + 1, held - used); held -= used; break; }
    }
    uint64_t *sent = calloc((size_t)depth, sizeof(uint64_t));
    char *out = malloc((size_t)depth * 96 + 64);
    size_t outlen = 0;
    for (int slot = 0; slot < depth; slot++) {
        sent[slot] = now_ns();
        outlen += (size_t)request(out + outlen, slot);
    }
    if (write(fd, out, outlen) < 0) exit(1);
    uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
    for (;;) {
        ssize_t n = read(fd, buf + held, (1 << 20) - held);
        if (n <= 0) { fprintf(stderr, "rpc-load: connection closed\n"); exit(1); }
        held += (size_t)n;
        uint64_t t = now_ns();
        outlen = 0;
        char *start = buf, *end = buf + held, *nl;
        while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
            int64_t id = parse_id(start, nl);
            if (id >= 0) {
                int slot = (int)(id % depth);
                if (w->count < w->capacity) w->latencies[w->count++] = (uint32_t)((t - sent[slot]) / 1000);
                w->done++;
                if (t < deadline) {
                    sent[slot] = t;
                    outlen += (size_t)request(out + outlen, id + depth);
                }
            }
            start = nl + 1;
        }
        held = (size_t)(end - start);
        memmove(buf, start, held);
        if (outlen > 0 && write(fd, out, outlen) < 0) exit(1);
        if (t >= deadline) break;
    }
    close(fd);
    return NULL;
}

static int compare(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: rpc-load SOCKET CONNECTIONS DEPTH SECONDS\n"); return 2; }
    socket_path = argv[1];
    int connections = atoi(argv[2]);
    depth = atoi(argv[3]);
    seconds = atof(argv[4]);
    struct worker *workers = calloc((size_t)connections, sizeof(*workers));
    uint64_t start = now_ns();
    for (int i = 0; i < connections; i++) {
        workers[i].capacity = 20000000;
        workers[i].latencies = malloc(workers[i].capacity * sizeof(uint32_t));
        pthread_create(&workers[i].thread, NULL, run, &workers[i]);
    }
    uint64_t done = 0;
    size_t total = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(workers[i].thread, NULL);
        done += workers[i].done;
        total += workers[i].count;
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    uint32_t *all = malloc(total * sizeof(uint32_t));
    size_t k = 0;
    for (int i = 0; i < connections; i++) {
        memcpy(all + k, workers[i].latencies, workers[i].count * sizeof(uint32_t));
        k += workers[i].count;
    }
    qsort(all, total, sizeof(uint32_t), compare);
    printf("%.0f %u %u\n", (double)done / elapsed, all[total / 2], all[(size_t)(total * 0.99)]);
    return 0;
}
