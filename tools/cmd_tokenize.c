#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'tokenize' is not available in this build yet");
}
