#include "cli.h"

int cmd_route(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'route' is not available in this build yet");
}
