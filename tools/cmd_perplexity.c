#include "cli.h"

int cmd_perplexity(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'perplexity' is not available in this build yet");
}
