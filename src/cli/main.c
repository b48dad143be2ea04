/* ringtrain: thin command dispatcher. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: ringtrain COMMAND [options]\n"
    "\n"
    "Trains many models at once around a ring of MPI ranks; the data stays, the models travel.\n"
    "\n"
    "commands:\n"
    "  train CONFIG [--set key=value]... [--output DIR | --resume RUN_DIR] [--quiet]\n"
    "                      train every model of CONFIG (run under mpirun/srun for several ranks)\n"
    "  check CONFIG [--set key=value]...\n"
    "                      validate CONFIG and the data headers, print the model table; trains nothing\n"
    "  eval MODEL DATA [--label-column N] [--json]\n"
    "                      print a model's metrics on DATA (.csv or .npy)\n"
    "  predict MODEL DATA [--output FILE] [--label-column N]\n"
    "                      one CSV row per input row: predicted class and class probabilities\n"
    "  inspect FILE        print what a model file holds\n"
    "  results RUN_DIR [--top N] [--sort METRIC] [--json]\n"
    "                      rank the models of a finished run by a metric (from its results.csv)\n"
    "  convert IN OUT.npy [--header ...] [--delimiter ...]\n"
    "                      parse a CSV once into a float32 .npy (training reads it at disk speed)\n"
    "\n"
    "options:\n"
    "  -h, --help          this text (also: ringtrain COMMAND --help)\n"
    "  -V, --version       print the version\n"
    "\n"
    "exit codes:\n"
    "  0  success\n"
    "  1  runtime failure (MPI, memory, I/O, run.timeout)\n"
    "  2  usage, config or data error (the message names the file and line/row/offset)\n"
    "  75 train was stopped by SIGTERM/SIGINT after writing a checkpoint: requeue and run\n"
    "     ringtrain train CONFIG --resume RUN_DIR\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
    printf("ringtrain %s\n", RINGTRAIN_VERSION);
    return 0;
  }
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } commands[] = {{"train", rt_cmd_train},     {"check", rt_cmd_check},
                  {"eval", rt_cmd_eval},       {"predict", rt_cmd_predict},
                  {"inspect", rt_cmd_inspect}, {"results", rt_cmd_results},
                  {"convert", rt_cmd_convert}};
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "ringtrain: error: unknown command '%s' (try 'ringtrain --help')\n", cmd);
  return 2;
}
