/* `ringtrain convert IN OUT.npy`: parses a data file once into a float32 .npy that training reads
 * at disk speed. Options are the data section's keys (data.header, data.delimiter), checked by
 * the config layer, so their values and messages are the config file's. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "ringtrain/config.h"
#include "ringtrain/data.h"

static const char convert_help[] =
    "usage: ringtrain convert IN OUT.npy [--header auto|true|false] "
    "[--delimiter auto|comma|whitespace]\n"
    "\n"
    "Parses IN (CSV or whitespace-separated text, or a .npy of any supported dtype) once and\n"
    "writes every row and column, the label column included, as a float32 .npy: the same values\n"
    "training would read from IN (point data.train at OUT.npy; note that .npy shards are cut by\n"
    "rows, CSV shards by bytes). Prints the rows, columns and parse rate. OUT appears complete\n"
    "or not at all.\n";

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int rt_cmd_convert(int argc, char **argv) {
  static const struct option options[] = {{"header", required_argument, NULL, 'H'},
                                          {"delimiter", required_argument, NULL, 'd'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  rt_config cfg;
  rt_config_defaults(&cfg);
  rt_status st;
  rt_status_clear(&st);
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    char assignment[256];
    switch (c) {
      case 'H':
      case 'd':
        snprintf(assignment, sizeof assignment, "data.%s=%s", c == 'H' ? "header" : "delimiter",
                 optarg);
        if (rt_config_set(&cfg, assignment, &st) != RT_OK) {
          rt_config_free(&cfg);
          return rt_cli_usage_error("convert", "--%s: %s", c == 'H' ? "header" : "delimiter",
                                    st.message);
        }
        break;
      case 'h':
        fputs(convert_help, stdout);
        rt_config_free(&cfg);
        return 0;
      case ':':
        rt_config_free(&cfg);
        return rt_cli_usage_error("convert", "option '%s' needs a value", argv[optind - 1]);
      default:
        rt_config_free(&cfg);
        return rt_cli_usage_error("convert", "unknown option '%s'", argv[optind - 1]);
    }
  }
  const int header = cfg.data.header;
  const char delimiter = cfg.data.delimiter;
  rt_config_free(&cfg);
  if (argc - optind != 2)
    return rt_cli_usage_error(
        "convert", argc - optind < 2 ? "expected IN and OUT.npy" : "unexpected argument '%s'",
        argv[argc - 1]);
  const char *in = argv[optind], *out = argv[optind + 1];
  const size_t out_len = strlen(out);
  if (out_len < 4 || strcmp(out + out_len - 4, ".npy") != 0)
    return rt_cli_usage_error("convert", "%s: the output must be a .npy file", out);
  rt_data_options opt = {.path = in, .header = header, .delimiter = delimiter, .label_column = -1};
  rt_convert_result res;
  const double t0 = now_seconds();
  if (rt_data_convert(&opt, out, &res, &st) != RT_OK) return rt_cli_report(&st);
  const double seconds = now_seconds() - t0;
  printf("%s: %" PRIu64 " rows x %zu columns", out, res.rows, res.columns);
  if (res.bytes_read)
    printf(", %.1f MB of text read and parsed in %.3f s (%.0f MB/s)", (double)res.bytes_read / 1e6,
           res.read_seconds,
           res.read_seconds > 0 ? (double)res.bytes_read / 1e6 / res.read_seconds : 0.0);
  printf("; %.3f s in all\n", seconds);
  return 0;
}
