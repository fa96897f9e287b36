/* Helpers shared by the subcommands of the slm command line. */
#ifndef SLM_CLI_H
#define SLM_CLI_H

#include <stddef.h>

/* Prints "slm: <message>" on one line to stderr and exits with status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Option values, checked: a bad value dies naming the option. */
int cli_int(const char *opt, const char *val, long lo, long hi);
double cli_float(const char *opt, const char *val, double lo, double hi);
unsigned long long cli_u64(const char *opt, const char *val);
/* The value after option argv[*i] (advancing *i); dies when it is missing. */
const char *cli_value(int argc, char **argv, int *i);

/* Reads all of path ("-": stdin) into a NUL-terminated buffer; dies naming the file on failure. */
char *cli_read_file(const char *path, size_t *len);

/* Subcommands, one file each: tools/cmd_<name>.c */
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_route(int argc, char **argv);

#endif
