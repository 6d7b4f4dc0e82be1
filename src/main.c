/* drkit: disaster recovery for web shops. The command line lives in cli/. */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
