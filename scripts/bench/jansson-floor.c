// What jansson alone costs per host.ping, the part of Baton's work no Swift change can
// remove: parse the request line, then build and write the answer. Prints µs per ping.
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void) {
    const char *line = "{\"jsonrpc\":\"2.0\",\"method\":\"host.ping\",\"id\":123456}";
    char out[512];
    const int rounds = 500000;
    double start = now();
    for (int i = 0; i < rounds; i++) {
        json_error_t error;
        json_t *request = json_loadb(line, strlen(line), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
        json_t *answer = json_object();
        json_object_set_new_nocheck(answer, "jsonrpc", json_stringn_nocheck("2.0", 3));
        json_object_set_new_nocheck(answer, "result", json_object());
        json_object_set_new_nocheck(answer, "id", json_integer(json_integer_value(json_object_get(request, "id"))));
        json_dumpb(answer, out, sizeof(out), JSON_COMPACT);
        json_decref(answer);
        json_decref(request);
    }
    printf("%.2f\n", (now() - start) / rounds * 1e6);
    return 0;
}
