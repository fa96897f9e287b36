/* slm tokenize: text to token ids with a model's (or a tokenizer folder's) tokenizer.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

static const char usage[] =
    "usage: slm tokenize -m DIR [--ids] [--no-bos] [--no-special-parse] TEXT|-\n"
    "  -m, --model DIR       folder with tokenizer.json (a model folder or tokenizer files only)\n"
    "      --ids             print only the ids, space-separated on one line\n"
    "      --no-bos          add no special tokens (no BOS/EOS from the post-processor)\n"
    "      --no-special-parse  special tokens written in the text are tokenized as plain text\n"
    "  TEXT                  the text; '-' reads it from stdin exactly as given\n"
    "Prints one \"id<TAB>piece\" line per token; control characters and '\\' in pieces are escaped.\n";

static char *read_stdin(size_t *len) {
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    if (!buf) die("tokenize: out of memory");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) die("tokenize: out of memory");
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        if (got == 0) break;
        n += got;
    }
    if (ferror(stdin)) die("tokenize: cannot read stdin");
    *len = n;
    return buf;
}

/* A piece on one line: backslash and control characters escaped. */
static void print_piece(const char *p) {
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02X", c);
        else putchar(c);
    }
}

int cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL, *text_arg = NULL;
    int ids_only = 0, add_special = 1, parse_special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) dir = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--ids")) ids_only = 1;
        else if (!strcmp(a, "--no-bos")) add_special = 0;
        else if (!strcmp(a, "--no-special-parse")) parse_special = 0;
        else if (a[0] == '-' && a[1]) die("tokenize: unknown option '%s' (slm tokenize --help)", a);
        else if (text_arg) die("tokenize: give the text as one argument (quote it) or '-' for stdin");
        else text_arg = a;
    }
    if (!dir) die("tokenize: -m DIR is required (slm tokenize --help)");
    if (!text_arg) die("tokenize: no text given (TEXT, or '-' for stdin)");
    size_t len;
    char *text = !strcmp(text_arg, "-") ? read_stdin(&len) : NULL;
    if (!text) len = strlen(text_arg);
    slm_tokenizer *tok = slm_tokenizer_load(dir);
    int *ids = NULL, n = 0;
    if (!tok || slm_tokenize(tok, text ? text : text_arg, len, add_special, parse_special, &ids, &n)) {
        free(text);
        slm_tokenizer_free(tok);
        die("%s", slm_error());
    }
    for (int i = 0; i < n; i++) {
        if (ids_only) {
            printf(i ? " %d" : "%d", ids[i]);
            continue;
        }
        const char *p = slm_tokenizer_piece(tok, ids[i]);
        printf("%d\t", ids[i]);
        print_piece(p ? p : "");
        putchar('\n');
    }
    if (ids_only) putchar('\n');
    free(ids);
    free(text);
    slm_tokenizer_free(tok);
    return 0;
}
