#include "escalate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "../runtime/error.h"

extern char **environ;

/* ---- command line splitting ---- */

void slm_argv_free(char **argv) {
    if (!argv) return;
    for (char **a = argv; *a; a++) free(*a);
    free(argv);
}

char **slm_argv_dup(char *const *argv) {
    int n = 0;
    while (argv[n]) n++;
    char **copy = calloc((size_t)n + 1, sizeof *copy);
    if (!copy) return NULL;
    for (int i = 0; i < n; i++)
        if (!(copy[i] = strdup(argv[i]))) {
            slm_argv_free(copy);
            return NULL;
        }
    return copy;
}

int slm_split_command(const char *line, char ***out) {
    *out = NULL;
    size_t cap = strlen(line) + 1;
    char *word = malloc(cap);
    char **argv = calloc(cap / 2 + 2, sizeof *argv); /* at most one word per two bytes, plus NULL */
    if (!word || !argv) {
        free(word);
        free(argv);
        return slm_fail("command: out of memory");
    }
    int argc = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        size_t len = 0;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                const char *end = strchr(p + 1, '\'');
                if (!end) goto unterminated;
                memcpy(word + len, p + 1, (size_t)(end - p - 1));
                len += (size_t)(end - p - 1);
                p = end + 1;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
                    word[len++] = *p++;
                }
                if (!*p) goto unterminated;
                p++;
            } else if (*p == '\\') {
                if (!p[1]) {
                    slm_argv_free(argv);
                    free(word);
                    return slm_fail("command: trailing backslash");
                }
                word[len++] = p[1];
                p += 2;
            } else {
                word[len++] = *p++;
            }
        }
        if (!(argv[argc] = malloc(len + 1))) {
            slm_argv_free(argv);
            free(word);
            return slm_fail("command: out of memory");
        }
        memcpy(argv[argc], word, len);
        argv[argc++][len] = 0;
    }
    free(word);
    if (argc == 0) {
        free(argv);
        return slm_fail("command: no program given");
    }
    *out = argv;
    return argc;
unterminated:
    slm_argv_free(argv);
    free(word);
    return slm_fail("command: unterminated quote");
}

/* ---- running the command ---- */

long slm_utf8_invalid_at(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (step <= 0) return (long)i;
        i += (size_t)step;
    }
    return -1;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A pipe whose ends are close-on-exec and above the standard descriptors, so that the dup2 calls
 * in the child cannot overwrite one another even when the caller runs with 0, 1 or 2 closed. */
static int make_pipe(int fd[2]) {
    int raw[2];
    if (pipe2(raw, O_CLOEXEC)) return -1;
    for (int i = 0; i < 2; i++) {
        if (raw[i] > 2) {
            fd[i] = raw[i];
            continue;
        }
        fd[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 3);
        close(raw[i]);
        if (fd[i] < 0) {
            if (i == 1) close(fd[0]);
            else close(raw[1]);
            return -1;
        }
    }
    return 0;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Grows buf to hold at least need bytes plus a NUL. */
static int reserve(char **buf, size_t *cap, size_t need) {
    if (need + 1 <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need + 1) c *= 2;
    char *b = realloc(*buf, c);
    if (!b) return -1;
    *buf = b;
    *cap = c;
    return 0;
}

/* The last non-empty line of the command's stderr, for the failure reason. */
static void last_line(const char *s, size_t n, char *dst, size_t size) {
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) n--;
    size_t start = n;
    while (start && s[start - 1] != '\n') start--;
    size_t len = n - start;
    if (len >= size) len = size - 1;
    memcpy(dst, s + start, len);
    dst[len] = 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)dst[i] < 0x20) dst[i] = ' ';
}

void slm_escalation_free(slm_escalation *e) {
    free(e->answer);
    e->answer = NULL;
    e->len = 0;
}

int slm_escalate(const slm_escalate_opts *o, const char *input, size_t len, slm_escalation *out) {
    memset(out, 0, sizeof *out);
    double start = now_seconds();
    double deadline = start + (o->timeout_s > 0 ? o->timeout_s : 1e9);
    int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
    char *buf = NULL, errbuf[4096];
    size_t cap = 0, n_out = 0, n_err = 0, written = 0;
    int failed = 0, reaped = 0, status = 0;
    pid_t pid = -1;

    /* SIGPIPE is blocked so a write to a closed pipe reports EPIPE instead of killing the process. */
    sigset_t pipe_set, old_mask, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    sigpending(&pending);
    int pipe_was_pending = sigismember(&pending, SIGPIPE);

    if (make_pipe(in) || make_pipe(outp) || make_pipe(errp)) {
        snprintf(out->error, sizeof out->error, "cannot create pipes: %s", strerror(errno));
        failed = 1;
        goto done;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    posix_spawnattr_init(&attr);
    /* Its own process group (so a timeout can kill everything it started), an empty signal mask,
     * and default actions for signals a caller may ignore (ignored ones survive exec). */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    int reset[] = {SIGPIPE, SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++) sigaddset(&defaults, reset[i]);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    int rc = posix_spawnp(&pid, o->argv[0], &fa, &attr, o->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_fd(&in[0]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    if (rc) {
        pid = -1;
        if (rc == ENOENT)
            snprintf(out->error, sizeof out->error, "command '%s' not found", o->argv[0]);
        else
            snprintf(out->error, sizeof out->error, "cannot start '%s': %s", o->argv[0], strerror(rc));
        failed = 1;
        goto done;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    if (len == 0) close_fd(&in[1]);

    /* Write the request and read both outputs at once: a command that answers while it still
     * reads (or writes a lot to stderr) never waits on us. */
    while (in[1] >= 0 || outp[0] >= 0 || errp[0] >= 0) {
        double left = deadline - now_seconds();
        if (left <= 0) {
            snprintf(out->error, sizeof out->error, "timed out after %g s", o->timeout_s);
            failed = 1;
            break;
        }
        struct pollfd pf[3];
        int np = 0, i_in = -1, i_out = -1, i_err = -1;
        if (in[1] >= 0) pf[i_in = np++] = (struct pollfd){in[1], POLLOUT, 0};
        if (outp[0] >= 0) pf[i_out = np++] = (struct pollfd){outp[0], POLLIN, 0};
        if (errp[0] >= 0) pf[i_err = np++] = (struct pollfd){errp[0], POLLIN, 0};
        int ms = (int)(left * 1000) + 1;
        if (poll(pf, (nfds_t)np, ms) < 0) {
            if (errno == EINTR) continue;
            snprintf(out->error, sizeof out->error, "poll: %s", strerror(errno));
            failed = 1;
            break;
        }
        if (i_in >= 0 && pf[i_in].revents) {
            ssize_t w = write(in[1], input + written, len - written);
            if (w > 0) {
                written += (size_t)w;
                if (written == len) close_fd(&in[1]);
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                if (errno == EPIPE)
                    snprintf(out->error, sizeof out->error, "command closed its stdin after %zu of %zu request bytes",
                             written, len);
                else
                    snprintf(out->error, sizeof out->error, "writing the request: %s", strerror(errno));
                failed = 1;
                break;
            }
        }
        if (i_out >= 0 && pf[i_out].revents) {
            if (reserve(&buf, &cap, n_out + 65536)) {
                snprintf(out->error, sizeof out->error, "out of memory");
                failed = 1;
                break;
            }
            ssize_t r = read(outp[0], buf + n_out, 65536);
            if (r > 0) {
                n_out += (size_t)r;
                if (n_out > o->max_bytes) {
                    snprintf(out->error, sizeof out->error, "answer exceeds %zu bytes", o->max_bytes);
                    failed = 1;
                    break;
                }
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close_fd(&outp[0]);
            }
        }
        if (i_err >= 0 && pf[i_err].revents) {
            char tmp[4096];
            ssize_t r = read(errp[0], tmp, sizeof tmp);
            if (r > 0) {
                /* Keep the last 4 KiB: the end of stderr says why a command failed. */
                size_t k = (size_t)r;
                if (n_err + k > sizeof errbuf) {
                    size_t drop = n_err + k - sizeof errbuf;
                    if (drop > n_err) drop = n_err;
                    memmove(errbuf, errbuf + drop, n_err - drop);
                    n_err -= drop;
                }
                if (k > sizeof errbuf) k = sizeof errbuf;
                memcpy(errbuf + n_err, tmp + (size_t)r - k, k);
                n_err += k;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close_fd(&errp[0]);
            }
        }
    }

    /* Both outputs are closed: wait for the exit within what is left of the time limit. */
    if (!failed) {
        int sleep_us = 200;
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                reaped = 1;
                break;
            }
            if (w < 0 && errno != EINTR) {
                snprintf(out->error, sizeof out->error, "waitpid: %s", strerror(errno));
                reaped = 1; /* nothing left to reap */
                failed = 1;
                break;
            }
            if (now_seconds() >= deadline) {
                snprintf(out->error, sizeof out->error, "timed out after %g s", o->timeout_s);
                failed = 1;
                break;
            }
            struct timespec ts = {0, sleep_us * 1000L};
            nanosleep(&ts, NULL);
            if (sleep_us < 10000) sleep_us *= 2;
        }
    }

done:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    if (pid > 0 && !reaped) {
        /* The leader is not reaped yet, so its process group id cannot have been reused. */
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    sigpending(&pending);
    if (!pipe_was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    out->seconds = now_seconds() - start;

    if (!failed) {
        char why[256];
        last_line(errbuf, n_err, why, sizeof why);
        const char *sep = why[0] ? ": " : "";
        if (WIFSIGNALED(status)) {
            snprintf(out->error, sizeof out->error, "command killed by signal %d (%s)%s%s", WTERMSIG(status),
                     strsignal(WTERMSIG(status)), sep, why);
            failed = 1;
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            snprintf(out->error, sizeof out->error, "command exited with status %d%s%s", WEXITSTATUS(status), sep, why);
            failed = 1;
        }
    }
    if (!failed) {
        while (n_out && buf[n_out - 1] == '\n') {
            n_out--;
            if (n_out && buf[n_out - 1] == '\r') n_out--;
        }
        long bad = slm_utf8_invalid_at(buf, n_out);
        if (n_out == 0) {
            snprintf(out->error, sizeof out->error, "command gave an empty answer");
            failed = 1;
        } else if (bad >= 0) {
            snprintf(out->error, sizeof out->error, "answer is not valid UTF-8 (byte %ld)", bad);
            failed = 1;
        }
    }
    if (failed) {
        free(buf);
        return -1;
    }
    buf[n_out] = 0;
    out->answer = buf;
    out->len = n_out;
    return 0;
}
