/* slm detokenize: token ids back to text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

static const char usage[] =
    "usage: slm detokenize -m DIR [--special] IDS...\n"
    "  -m, --model DIR   folder with tokenizer.json\n"
    "      --special     keep special tokens (<s>, <|eot_id|>, ...) in the text; they are dropped by default\n"
    "  IDS               token ids, as separate arguments or in one quoted string (spaces or commas\n"
    "                    between them); '-' reads them from stdin\n"
    "Prints the decoded text exactly, with no newline added.\n";

typedef struct {
    int *p;
    int n, cap;
} ids;

/* Adds the ids in s (separated by spaces, commas, newlines, brackets). */
static void parse_ids(const char *s, ids *out) {
    while (*s) {
        if (strchr(" \t\r\n,[]", *s)) {
            s++;
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || (*end && !strchr(" \t\r\n,[]", *end))) {
            size_t k = strcspn(s, " \t\r\n,[]");
            die("detokenize: '%.*s' is not a token id", (int)(k > 40 ? 40 : k), s);
        }
        if (v < -1000000000L || v > 1000000000L) die("detokenize: id %ld is out of range", v);
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 256;
            out->p = realloc(out->p, (size_t)out->cap * sizeof *out->p);
            if (!out->p) die("detokenize: out of memory");
        }
        out->p[out->n++] = (int)v;
        s = end;
    }
}

int cmd_detokenize(int argc, char **argv) {
    const char *dir = NULL;
    int keep_special = 0, from_stdin = 0, given = 0;
    ids list = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--special")) keep_special = 1;
        else if (!strcmp(a, "-")) from_stdin = 1;
        else if (a[0] == '-' && (a[1] < '0' || a[1] > '9'))
            die("detokenize: unknown option '%s' (slm detokenize --help)", a);
        else {
            parse_ids(a, &list);
            given = 1;
        }
    }
    if (!dir) die("detokenize: -m DIR is required (slm detokenize --help)");
    if (from_stdin) {
        char line[65536];
        size_t got;
        /* ids are short: read in blocks and carry a cut number over to the next block */
        char carry[32] = "";
        while ((got = fread(line, 1, sizeof line - 33, stdin)) > 0) {
            line[got] = 0;
            size_t cut = got;
            while (cut > 0 && !strchr(" \t\r\n,[]", line[cut - 1])) cut--;
            char *block = malloc(strlen(carry) + cut + 1);
            if (!block) die("detokenize: out of memory");
            sprintf(block, "%s%.*s", carry, (int)cut, line);
            if (got - cut >= sizeof carry) die("detokenize: '%.20s...' is not a token id", line + cut);
            snprintf(carry, sizeof carry, "%s", line + cut);
            parse_ids(block, &list);
            free(block);
        }
        parse_ids(carry, &list);
        given = 1;
    }
    if (!given) die("detokenize: no ids given (IDS..., or '-' for stdin)");
    slm_tokenizer *tok = slm_tokenizer_load(dir);
    if (!tok) {
        free(list.p);
        die("%s", slm_error());
    }
    char *text;
    size_t len;
    int rc = slm_detokenize(tok, list.p, list.n, !keep_special, &text, &len);
    free(list.p);
    slm_tokenizer_free(tok);
    if (rc) die("%s", slm_error());
    fwrite(text, 1, len, stdout);
    free(text);
    return 0;
}
