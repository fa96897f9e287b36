#include "cli.h"

int cmd_quantize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'quantize' is not available in this build yet");
}
