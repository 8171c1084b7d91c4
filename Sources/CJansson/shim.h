#ifndef CJANSSON_SHIM_H
#define CJANSSON_SHIM_H
#include <jansson.h>

// jansson's type test and boolean constructor are function-like macros, which
// Swift does not import; these inline functions re-expose them.
static inline json_type cjansson_typeof(const json_t *json) { return json->type; }
static inline json_t *cjansson_boolean(int value) { return value ? json_true() : json_false(); }
#endif
