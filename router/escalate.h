/* Escalation: run an external command, hand it the request on stdin, take its stdout as the
 * answer. No shell is involved at any point: the command is an argv started with posix_spawnp in a
 * process group of its own.
 *
 * Any failure (missing program, non-zero exit, death by a signal, timeout, stdin closed before the
 * whole request was read, output over the size cap, empty or invalid UTF-8 output) returns -1 with
 * a one-line reason in out->error; the caller keeps its local answer. */
#ifndef SLM_ROUTER_ESCALATE_H
#define SLM_ROUTER_ESCALATE_H

#include <stddef.h>

/* Splits a command line into words the way a shell would for the simple cases, without expanding
 * anything:
 *   - blanks (space, tab, newline) separate words;
 *   - '...' keeps everything up to the next single quote literally;
 *   - "..." keeps everything literally except that \" and \\ stand for " and \;
 *   - outside quotes a backslash makes the next character literal;
 *   - quoted and unquoted pieces next to each other form one word ('' is an empty word);
 *   - $, `, *, ?, ~, |, ;, &, <, > and the like are ordinary characters.
 * Returns the number of words with *argv a NULL-terminated array (free with slm_argv_free), or -1
 * (slm_error: unterminated quote, trailing backslash, no words). */
int slm_split_command(const char *line, char ***argv);
void slm_argv_free(char **argv);
/* A copy of a NULL-terminated argv. */
char **slm_argv_dup(char *const *argv);

typedef struct {
    char *const *argv;  /* argv[0] is looked up in PATH unless it contains a '/' */
    double timeout_s;   /* > 0: the whole exchange, start to exit; then the process group is killed */
    size_t max_bytes;   /* cap on the answer; more output kills the command */
} slm_escalate_opts;

typedef struct {
    char *answer;     /* NUL-terminated, trailing newlines removed; NULL on failure */
    size_t len;
    double seconds;   /* from start to reaping the command */
    char error[512];  /* "" on success, else why the answer was not taken */
} slm_escalation;

/* Runs the command with input on its stdin. SIGPIPE is blocked on the calling thread meanwhile
 * (a pending one it caused is consumed), so a command that closes its stdin early cannot kill the
 * caller. Returns 0 with out->answer set, or -1 with out->error set; out is always filled. */
int slm_escalate(const slm_escalate_opts *o, const char *input, size_t len, slm_escalation *out);
void slm_escalation_free(slm_escalation *e);

/* Byte offset of the first invalid UTF-8 sequence in s[0..n), or -1 when it is all valid. */
long slm_utf8_invalid_at(const char *s, size_t n);

#endif
