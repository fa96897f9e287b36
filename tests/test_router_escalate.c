/* Escalation through external commands (scripts in tests/router/): every way a command can fail
 * must come back as -1 with a reason, never as a crash, a hang or a lost request. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../router/escalate.h"
#include "../runtime/error.h"
#include "test.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char tmpdir[64];

/* Runs "sh tests/router/SCRIPT args..." with the given input. */
static int run_script(const char *cmdline, const char *input, size_t len, double timeout, size_t cap, slm_escalation *e) {
    char **argv;
    if (slm_split_command(cmdline, &argv) < 0) {
        fprintf(stderr, "split failed: %s\n", slm_error());
        memset(e, 0, sizeof *e);
        snprintf(e->error, sizeof e->error, "split failed");
        return -2;
    }
    slm_escalate_opts o = {argv, timeout, cap};
    int rc = slm_escalate(&o, input, len, e);
    slm_argv_free(argv);
    return rc;
}

static void test_split(void) {
    char **a;
    int n = slm_split_command("  prog 'single $(x) `y`' \"double \\\" \\\\ \\n\" back\\ slash a'b'\"c\" '' ;|&<>*", &a);
    CHECK(n == 7, "argc %d", n);
    if (n == 7) {
        CHECK(!strcmp(a[0], "prog"), "a0 '%s'", a[0]);
        CHECK(!strcmp(a[1], "single $(x) `y`"), "a1 '%s'", a[1]);
        CHECK(!strcmp(a[2], "double \" \\ \\n"), "a2 '%s'", a[2]);
        CHECK(!strcmp(a[3], "back slash"), "a3 '%s'", a[3]);
        CHECK(!strcmp(a[4], "abc"), "a4 '%s'", a[4]);
        CHECK(!strcmp(a[5], ""), "a5 '%s'", a[5]);
        CHECK(!strcmp(a[6], ";|&<>*"), "a6 '%s'", a[6]);
        CHECK(a[7] == NULL, "argv not NULL-terminated");
    }
    slm_argv_free(a);
    CHECK(slm_split_command("prog 'open", &a) == -1 && strstr(slm_error(), "unterminated"), "unterminated ' : %s", slm_error());
    CHECK(slm_split_command("prog \"open", &a) == -1 && strstr(slm_error(), "unterminated"), "unterminated \"");
    CHECK(slm_split_command("prog \\", &a) == -1 && strstr(slm_error(), "backslash"), "trailing backslash");
    CHECK(slm_split_command(" \t\n", &a) == -1 && strstr(slm_error(), "no program"), "empty command");
}

static void test_success(void) {
    slm_escalation e;
    const char *req = "What is 2 + 2?";
    int rc = run_script("sh tests/router/answer.sh", req, strlen(req), 10, 1 << 20, &e);
    CHECK(rc == 0, "rc %d: %s", rc, e.error);
    CHECK(e.answer && !strcmp(e.answer, "remote answer to 14 bytes"), "answer '%s'", e.answer ? e.answer : "(null)");
    CHECK(e.error[0] == 0, "error set on success: %s", e.error);
    CHECK(e.seconds > 0 && e.seconds < 5, "seconds %g", e.seconds);
    slm_escalation_free(&e);
}

static void test_no_shell(void) {
    /* The prompt and the arguments reach the command verbatim: nothing runs them through a shell. */
    char marker[128], cmd[512], prompt[512];
    snprintf(marker, sizeof marker, "%s/pwned", tmpdir);
    snprintf(prompt, sizeof prompt, "$(touch %s); `touch %s`; echo 'q' \"dq\" | cat > %s & \\n", marker, marker, marker);
    slm_escalation e;
    int rc = run_script("sh tests/router/echo.sh", prompt, strlen(prompt), 10, 1 << 20, &e);
    CHECK(rc == 0, "rc %d: %s", rc, e.error);
    CHECK(e.answer && !strcmp(e.answer, prompt), "prompt changed on the way: '%s'", e.answer ? e.answer : "(null)");
    slm_escalation_free(&e);
    snprintf(cmd, sizeof cmd, "sh tests/router/args.sh '$(touch %s)' \"`touch %s`\" a\\;b '>%s'", marker, marker, marker);
    rc = run_script(cmd, "", 0, 10, 1 << 20, &e);
    char want[512];
    snprintf(want, sizeof want, "[$(touch %s)]\n[`touch %s`]\n[a;b]\n[>%s]", marker, marker, marker);
    CHECK(rc == 0, "rc %d: %s", rc, e.error);
    CHECK(e.answer && !strcmp(e.answer, want), "args changed: '%s'", e.answer ? e.answer : "(null)");
    slm_escalation_free(&e);
    struct stat st;
    CHECK(stat(marker, &st) != 0, "%s was created: a shell ran", marker);
}

static void test_exit_status(void) {
    slm_escalation e;
    int rc = run_script("sh tests/router/fail.sh", "x", 1, 10, 1 << 20, &e);
    CHECK(rc == -1 && e.answer == NULL, "rc %d", rc);
    CHECK(strstr(e.error, "exited with status 3") && strstr(e.error, "backend unavailable"), "error '%s'", e.error);
}

static void test_signal(void) {
    slm_escalation e;
    int rc = run_script("sh tests/router/crash.sh", "x", 1, 10, 1 << 20, &e);
    CHECK(rc == -1 && strstr(e.error, "killed by signal 11"), "rc %d error '%s'", rc, e.error);
}

static int process_gone(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'); /* a zombie waiting for init is gone too */
}

static void test_timeout(void) {
    char cmd[256], pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/sleep.pid", tmpdir);
    snprintf(cmd, sizeof cmd, "sh tests/router/slow.sh %s", pidfile);
    slm_escalation e;
    double t0 = now();
    int rc = run_script(cmd, "x", 1, 0.5, 1 << 20, &e);
    double dt = now() - t0;
    CHECK(rc == -1 && strstr(e.error, "timed out after 0.5 s"), "rc %d error '%s'", rc, e.error);
    CHECK(dt >= 0.5 && dt < 3, "took %g s", dt);
    /* The background sleep was in the command's process group: it must be dead as well. */
    FILE *f = fopen(pidfile, "r");
    int pid = 0;
    CHECK(f && fscanf(f, "%d", &pid) == 1, "no pid file");
    if (f) fclose(f);
    for (int i = 0; i < 100 && pid > 0 && !process_gone(pid); i++) usleep(10000);
    CHECK(pid > 0 && process_gone(pid), "grandchild %d still running", pid);
}

static void test_cap(void) {
    slm_escalation e;
    int rc = run_script("sh tests/router/huge.sh", "x", 1, 10, 1 << 20, &e);
    CHECK(rc == -1 && strstr(e.error, "exceeds 1048576 bytes"), "rc %d error '%s'", rc, e.error);
    /* the same output under a larger cap is fine */
    rc = run_script("sh tests/router/huge.sh", "x", 1, 10, 4000000, &e);
    CHECK(rc == 0 && e.len == 3000000, "rc %d len %zu error '%s'", rc, e.len, e.error);
    slm_escalation_free(&e);
}

static void test_bad_output(void) {
    slm_escalation e;
    int rc = run_script("sh tests/router/badutf8.sh", "x", 1, 10, 1 << 20, &e);
    CHECK(rc == -1 && strstr(e.error, "not valid UTF-8 (byte 7)"), "rc %d error '%s'", rc, e.error);
    rc = run_script("sh tests/router/empty.sh", "x", 1, 10, 1 << 20, &e);
    CHECK(rc == -1 && strstr(e.error, "empty answer"), "rc %d error '%s'", rc, e.error);
    CHECK(slm_utf8_invalid_at("caf\xc3\xa9 \xe2\x82\xac", 9) == -1, "valid UTF-8 rejected");
    CHECK(slm_utf8_invalid_at("ab\xc3", 3) == 2, "truncated sequence");
    CHECK(slm_utf8_invalid_at("\xc0\xaf", 2) == 0, "overlong encoding accepted");
    CHECK(slm_utf8_invalid_at("\xed\xa0\x80", 3) == 0, "surrogate accepted");
}

static void test_missing(void) {
    char *argv[] = {"slm-no-such-program-here", NULL};
    slm_escalate_opts o = {argv, 5, 1 << 20};
    slm_escalation e;
    int rc = slm_escalate(&o, "x", 1, &e);
    CHECK(rc == -1 && strstr(e.error, "'slm-no-such-program-here' not found"), "rc %d error '%s'", rc, e.error);
    char *argv2[] = {"tests/router", NULL};
    o.argv = argv2;
    rc = slm_escalate(&o, "x", 1, &e);
    CHECK(rc == -1 && strstr(e.error, "cannot start"), "directory: rc %d error '%s'", rc, e.error);
}

static void test_closed_stdin(void) {
    /* 4 MB into a command that reads 10 bytes and closes its stdin: EPIPE, not SIGPIPE. */
    size_t n = 4 << 20;
    char *big = malloc(n);
    memset(big, 'p', n);
    slm_escalation e;
    int rc = run_script("sh tests/router/close_early.sh", big, n, 10, 1 << 20, &e);
    CHECK(rc == -1 && strstr(e.error, "closed its stdin after"), "rc %d error '%s'", rc, e.error);
    sigset_t pending, mask;
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE), "a SIGPIPE was left pending");
    sigprocmask(SIG_BLOCK, NULL, &mask);
    CHECK(!sigismember(&mask, SIGPIPE), "SIGPIPE left blocked");
    free(big);
}

static void test_large_both_ways(void) {
    /* Input and output far beyond a pipe buffer, plus 1 MB on stderr: needs concurrent I/O. */
    size_t n = 5 << 20;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    big[n] = 0;
    slm_escalation e;
    int rc = run_script("sh tests/router/chatty.sh", big, n, 20, 8 << 20, &e);
    CHECK(rc == 0 && e.len == n && !memcmp(e.answer, big, n), "rc %d len %zu error '%s'", rc, e.len, e.error);
    slm_escalation_free(&e);
    free(big);
}

int main(void) {
    (void)rel_l2;
    (void)test_randf;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/slm-esc-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_split);
    RUN(test_success);
    RUN(test_no_shell);
    RUN(test_exit_status);
    RUN(test_signal);
    RUN(test_timeout);
    RUN(test_cap);
    RUN(test_bad_output);
    RUN(test_missing);
    RUN(test_closed_stdin);
    RUN(test_large_both_ways);
    char path[128];
    snprintf(path, sizeof path, "%s/sleep.pid", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return test_summary();
}
