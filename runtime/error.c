#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

/* Messages quote names and values from the input (a tensor name, a template's string), which may hold
 * newlines or other control bytes; they are written as escapes so that an error stays one line. */
int slm_fail(const char *fmt, ...) {
    char raw[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t o = 0, cap = sizeof last_error;
    for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < cap; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            last_error[o++] = (char)*p;
        } else if (*p == '\n' || *p == '\t' || *p == '\r') {
            last_error[o++] = '\\';
            last_error[o++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
        } else {
            o += (size_t)snprintf(last_error + o, cap - o, "\\x%02x", *p);
        }
    }
    last_error[o] = 0;
    return -1;
}

const char *slm_error(void) { return last_error; }
