#include "cli.h"

int cmd_detokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'detokenize' is not available in this build yet");
}
