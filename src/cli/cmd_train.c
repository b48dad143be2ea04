/* ringtrain train CONFIG: the one collective command. Rank 0 reads the config and broadcasts its
 * text so all ranks parse the same bytes; input errors are agreed by every rank and printed once
 * by rank 0; a runtime failure on one rank aborts the whole job, so nothing hangs. */
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_args.h"
#include "cli/table.h"
#include "ringtrain/stop.h"
#include "ringtrain/train.h"

/* The repeat window of stop signals in seconds, as text (from ringtrain/stop.h). */
#define WINDOW_TEXT(seconds) #seconds
#define WINDOW_EXPAND(seconds) WINDOW_TEXT(seconds)
#define WINDOW WINDOW_EXPAND(RT_STOP_REPEAT_WINDOW_SECONDS)

static const char train_usage[] =
    "usage: ringtrain train CONFIG [--set key=value]... [--output DIR | --resume RUN_DIR] [--trace]\n"
    "                       [--quiet]\n"
    "\n"
    "Trains every model of CONFIG. Run it under mpirun or srun for several ranks (one per node or\n"
    "GPU); without a launcher it runs as one rank that owns every shard, the sequential reference.\n"
    "\n"
    "  -s, --set key=value   override a config key, e.g. run.passes=3, models.0.learning_rate=0.1,\n"
    "                        models.*.batch_size=128 (repeatable)\n"
    "  -o, --output DIR      run directory (overrides run.output)\n"
    "  -t, --trace           write DIR/trace.json, a timeline of every rank and hand-off (Chrome\n"
    "                        trace events: Perfetto, chrome://tracing; as run.trace: true)\n"
    "  -r, --resume RUN_DIR  continue the run in RUN_DIR from its newest checkpoint (or from the\n"
    "                        checkpoint folder RUN_DIR/checkpoints/ckpt-NNNNNN given instead); the\n"
    "                        config must be the one checkpointed (output, checkpoint, timeout,\n"
    "                        trace and backend keys may differ); any number of ranks; the models\n"
    "                        come out identical to an uninterrupted run on the same backend\n"
    "  -q, --quiet           print only errors\n"
    "  -p, --progress-interval SECONDS\n"
    "                        a progress line every SECONDS when stdout is not a terminal (batch\n"
    "                        logs; default 10; 0 = none); on a terminal one live line\n"
    "  -h, --help            this text\n"
    "\n"
    "Signals: SIGTERM or SIGINT (on any rank) finishes the current batch, writes a checkpoint to\n"
    "RUN_DIR/checkpoints and exits with code 75 (resume with --resume RUN_DIR). More SIGTERMs within\n" WINDOW
    " s of the first are the same request (Slurm sends SIGTERM, SIGCONT, SIGTERM when it preempts);\n"
    "a SIGINT after the first signal, or a SIGTERM after those " WINDOW
    " s, exits at once. SIGUSR1 writes a\n"
    "checkpoint and goes on. Exit codes: 0 done, 1 runtime failure (MPI, I/O, memory, run.timeout),\n"
    "2 bad input, 75 stopped with a checkpoint.\n";

/* Progress on rank 0: a live single line on a terminal, one plain line every `interval` seconds
 * otherwise (batch logs). */
typedef struct progress_printer {
  int tty;
  double interval, last;
  int shown;
} progress_printer;

static void print_progress(const rt_progress *p, void *user) {
  progress_printer *pp = user;
  if (!p->final && p->elapsed - pp->last < pp->interval) return;
  pp->last = p->elapsed;
  const double fraction = p->visits_total ? (double)p->visits_done / (double)p->visits_total : 1.0;
  const double rate = p->elapsed > 0 ? (double)p->samples / p->elapsed : 0.0;
  char eta[32] = "-";
  if (p->final) snprintf(eta, sizeof eta, "0 s");
  else if (fraction > 0)
    snprintf(eta, sizeof eta, "%.0f s", p->elapsed * (1.0 - fraction) / fraction);
  char line[256];
  snprintf(line, sizeof line,
           "models %zu/%zu done, %zu in flight | shard visits %" PRIu64 "/%" PRIu64
           " (%.0f%%) | %.3g samples/s | %.1f s, ETA %s",
           p->models_done, p->models, p->models_in_flight, p->visits_done, p->visits_total,
           100.0 * fraction, rate, p->elapsed, eta);
  if (pp->tty) {
    printf("\r# %s\033[K%s", line, p->final ? "\n" : "");
  } else {
    printf("# progress: %s\n", line);
  }
  pp->shown = 1;
  fflush(stdout);
}

/* SIGTERM/SIGINT: the first asks for a checkpoint and a stop after the current batch; a SIGTERM
 * within RT_STOP_REPEAT_WINDOW_NS of it repeats that request; any other later one ends the process
 * at once (128 + signal, as the default action would). The rule: rt_stop_signal. SIGUSR1: a
 * checkpoint. */
static void on_stop_signal(int sig) {
  if (rt_stop_signal(sig == SIGINT) == RT_STOP_VERDICT_END) _exit(128 + sig);
}

static void on_checkpoint_signal(int sig) {
  (void)sig;
  rt_stop_request(RT_STOP_CHECKPOINT);
}

static int install_signal_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  /* One stop handler at a time on a thread (another thread may still take one at once). */
  sigaddset(&sa.sa_mask, SIGTERM);
  sigaddset(&sa.sa_mask, SIGINT);
  sa.sa_handler = on_stop_signal;
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) return -1;
  sa.sa_handler = on_checkpoint_signal;
  return sigaction(SIGUSR1, &sa, NULL);
}

/* Rank 0 reads; everyone receives the text or the read error. */
static rt_code share_config_text(const char *path, int rank, char **text, size_t *len,
                                 rt_status *st) {
  rt_code rc = RT_OK;
  unsigned long long n = 0;
  if (rank == 0) {
    rc = rt_read_text_file(path, text, len, st);
    n = rc == RT_OK ? (unsigned long long)*len : 0;
  }
  int code = (int)rc;
  if (MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
      MPI_Bcast(st->message, RT_MESSAGE_MAX, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
      MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return RT_FAIL_AT(st, RT_ERR_MPI, "MPI_Bcast of the config failed");
  if (code != RT_OK) return st->code = (rt_code)code;
  if (rank != 0) {
    *text = malloc(n + 1);
    if (!*text) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %llu bytes", n + 1);
    (*text)[n] = '\0';
    *len = (size_t)n;
  }
  if (MPI_Bcast(*text, (int)n, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    return RT_FAIL_AT(st, RT_ERR_MPI, "MPI_Bcast of the config failed");
  return RT_OK;
}

int rt_cmd_train(int argc, char **argv) {
  rt_config_args args;
  int code = rt_config_args_parse("train", argc, argv, &args);
  if (code || args.help) {
    if (args.help) fputs(train_usage, stdout);
    rt_config_args_free(&args);
    return code;
  }
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "ringtrain: error: MPI_Init_thread failed\n");
    rt_config_args_free(&args);
    return 1;
  }
  /* Errors come back as codes; we decide what to do with them. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);

  rt_status st;
  rt_status_clear(&st);
  rt_config cfg;
  rt_config_defaults(&cfg);
  rt_run_result res;
  memset(&res, 0, sizeof res);
  char *text = NULL;
  size_t len = 0;
  rt_code rc = share_config_text(args.config_path, rank, &text, &len, &st);
  /* Every rank parses the same bytes, so every rank reaches the same verdict. */
  if (rc == RT_OK) rc = rt_config_from_args(&args, text, len, &cfg, &st);
  free(text);
  if (rc == RT_OK && rank == 0 && !args.quiet) rt_print_run_header(stdout, &cfg, ranks);
  /* Launchers (mpirun, srun) forward stdout through a pseudo-terminal even when the job's log is a
   * file, so under one the progress is always plain lines. */
  const int launched =
      getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_RANK") || getenv("SLURM_PROCID");
  progress_printer printer = {.tty = isatty(STDOUT_FILENO) && !launched,
                              .interval = args.progress_interval};
  if (printer.tty && printer.interval > 0.2) printer.interval = 0.2; /* a live line */
  const int show = rank == 0 && !args.quiet && args.progress_interval > 0;
  /* After MPI_Init, so that ours replace any the MPI library set. */
  if (rc == RT_OK && install_signal_handlers() != 0)
    rc = rt_fail(&st, RT_ERR_INTERNAL, "%s:%d: sigaction: %s", __FILE__, __LINE__, strerror(errno));
  if (rc == RT_OK)
    rc = rt_train_resume(&cfg, args.resume, MPI_COMM_WORLD, show ? print_progress : NULL, &printer,
                         &res, &st);

  if (rc != RT_OK) {
    code = rt_exit_code(rc);
    if (rc == RT_STOPPED) {
      if (rank == 0) fprintf(stderr, "ringtrain: %s\n", st.message); /* agreed: print once */
    } else if (code == 2 || rc == RT_ERR_PEER) {
      if (rank == 0) rt_cli_report(&st); /* agreed by every rank: print once */
    } else {
      fprintf(stderr, "ringtrain: error: rank %d: %s\n", rank, st.message);
      MPI_Abort(MPI_COMM_WORLD, code); /* a lone failure must not leave other ranks waiting */
    }
  } else if (rank == 0 && !args.quiet) {
    rt_print_results_table(stdout, &res);
  }
  rt_run_result_free(&res);
  rt_config_free(&cfg);
  rt_config_args_free(&args);
  MPI_Finalize();
  return code;
}
