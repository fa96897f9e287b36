#include "cli.h"

int cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'info' is not available in this build yet");
}
