/* Reading JSON files and JSON-lines files with error messages that name the file and line. */
#ifndef SLM_ROUTER_JSONL_H
#define SLM_ROUTER_JSONL_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* The whole file, NUL-terminated; NULL with slm_error "PATH: reason". */
char *slm_read_file(const char *path, size_t *len);

/* Parses a whole file as one JSON value: NULL with "PATH:LINE:COL: not valid JSON". */
cJSON *slm_json_parse_file(const char *path);

typedef struct {
    FILE *f;
    const char *path;
    int line; /* number of the line last returned */
    char *buf;
    size_t cap;
} slm_jsonl;

/* Opens path for reading ("-" is stdin). Returns 0 or -1. */
int slm_jsonl_open(slm_jsonl *j, const char *path);
/* The next non-blank line as a JSON object. Returns 1 with *obj set (free with cJSON_Delete), 0 at
 * the end, or -1 with slm_error "PATH:LINE: problem". */
int slm_jsonl_next(slm_jsonl *j, cJSON **obj);
void slm_jsonl_close(slm_jsonl *j);

/* A copy of s in which every invalid UTF-8 sequence is replaced by U+FFFD: text written into JSON
 * must be valid UTF-8 for other readers. */
char *slm_utf8_repair(const char *s);

#endif
