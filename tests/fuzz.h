/* What the libFuzzer harnesses (tests/fuzz_*.c) share: the mode byte, input written to a file, and the
 * check that a failure left a one-line message. */
#ifndef SLM_FUZZ_H
#define SLM_FUZZ_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/error.h"

/* Takes the input's first byte as the mode, 0..modes-1; -1 for an empty input. */
static inline int fuzz_mode(const uint8_t **data, size_t *size, int modes) {
    if (*size < 1) return -1;
    int mode = (*data)[0] % modes;
    (*data)++;
    (*size)--;
    return mode;
}

/* Writes a then b (bn may be 0) to path. */
static inline void fuzz_write(const char *path, const void *a, size_t an, const void *b, size_t bn) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(a, 1, an, f);
    if (bn) fwrite(b, 1, bn, f);
    fclose(f);
}

/* The whole of a file the harness needs, read once at start; aborts when it cannot. */
static inline char *fuzz_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) abort();
    fclose(f);
    return b;
}

/* The temporary file or folder of the harness, removed when libFuzzer exits at the end of its runs
 * or time; after a crash it stays, beside the crashing input. */
static const char *fuzz_temp_path;

static inline int fuzz_remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static inline void fuzz_remove_temp(void) {
    if (fuzz_temp_path) nftw(fuzz_temp_path, fuzz_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes the file named by the template path ("...XXXXXX", rewritten in place) that each input is written to. */
static inline void fuzz_temp_file(char *path) {
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    fuzz_temp_path = path;
    atexit(fuzz_remove_temp);
}

/* Makes the folder named by the template path ("...XXXXXX", rewritten in place) that inputs are written into. */
static inline void fuzz_temp_dir(char *path) {
    if (!mkdtemp(path)) abort();
    fuzz_temp_path = path;
    atexit(fuzz_remove_temp);
}

/* Where the harnesses print what the commands would print. */
static inline FILE *fuzz_sink(void) {
    FILE *f = fopen("/dev/null", "w");
    if (!f) abort();
    return f;
}

/* After a call that returned rc: a failure must leave one non-empty line in slm_error(), starting with
 * prefix when one is given. */
static inline void fuzz_check_error(int rc, const char *prefix) {
    if (rc == 0) return;
    const char *err = slm_error();
    if (!err[0] || strchr(err, '\n') || (prefix && strncmp(err, prefix, strlen(prefix)))) {
        fprintf(stderr, "bad error message: \"%s\"\n", err);
        abort();
    }
}

#endif
