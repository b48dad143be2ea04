/* Backend selection: the facts (features the run uses, devices per rank and node) gathered and
 * agreed, then rt_backend_decide (backend_select.h). */
#include "backend_select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "backend_decide.h"
#if RINGTRAIN_WITH_CUDA
#include "device_assign.h"
#include "rt_cuda.h"
#endif

#if RINGTRAIN_WITH_CUDA

/* src into dst, cut to fit. */
static void copy_text(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* What this process sees: its devices' PCI bus ids, or in `reason` why it has none. A CUDA failure
 * while asking is a reason too (auto then trains on the CPU). */
static void local_devices(rt_rank_devices *me, char *reason, size_t cap) {
  int count = 0;
  rt_status st;
  rt_status_clear(&st);
  reason[0] = '\0';
  me->count = 0;
  if (rt_cuda_device_count(&count, &st) != RT_OK) {
    copy_text(reason, cap, st.message);
    return;
  }
  if (count == 0) {
    copy_text(reason, cap, rt_cuda_no_device_reason());
    return;
  }
  const int n = count < RT_NODE_DEVICES_MAX ? count : RT_NODE_DEVICES_MAX;
  for (int i = 0; i < n; ++i)
    if (rt_cuda_device_bus_id(i, me->ids[i], RT_DEVICE_ID_MAX, &st) != RT_OK) {
      copy_text(reason, cap, st.message);
      return;
    }
  me->count = n;
}

/* The node's ranks (node comm) gather what each sees: all[local rank]. */
static rt_code gather_node(MPI_Comm comm, const rt_rank_devices *me, rt_rank_devices **all,
                           int *local_rank, int *local_size, char *name, rt_status *st) {
  MPI_Comm node = MPI_COMM_NULL;
  RT_MPI_CHECK(st, MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, me->rank, MPI_INFO_NULL, &node));
  int len = 0, mrc = MPI_Comm_rank(node, local_rank);
  if (mrc == MPI_SUCCESS) mrc = MPI_Comm_size(node, local_size);
  if (mrc == MPI_SUCCESS) mrc = MPI_Get_processor_name(name, &len);
  rt_code rc =
      mrc == MPI_SUCCESS ? RT_OK : rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI (node ranks)");
  if (rc == RT_OK && !(*all = malloc((size_t)*local_size * sizeof **all)))
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the devices of %d ranks", *local_size);
  rc = rt_agree(node, rc, st);
  if (rc == RT_OK) {
    mrc = MPI_Allgather(me, (int)sizeof *me, MPI_BYTE, *all, (int)sizeof *me, MPI_BYTE, node);
    if (mrc != MPI_SUCCESS)
      rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Allgather(devices of the node)");
  }
  (void)MPI_Comm_free(&node);
  return rc;
}

rt_code rt_cuda_choose_device(MPI_Comm comm, int *device, char *problem, size_t cap,
                              rt_status *st) {
  *device = -1;
  problem[0] = '\0';
  rt_rank_devices me;
  memset(&me, 0, sizeof me);
  if (comm != MPI_COMM_NULL) RT_MPI_CHECK(st, MPI_Comm_rank(comm, &me.rank));
  char reason[RT_MESSAGE_MAX / 2];
  local_devices(&me, reason, sizeof reason);
  rt_rank_devices *all = &me;
  int local_rank = 0, local_size = 1;
  char name[MPI_MAX_PROCESSOR_NAME + 1] = "this node";
  if (comm != MPI_COMM_NULL) {
    all = NULL;
    rt_code rc = gather_node(comm, &me, &all, &local_rank, &local_size, name, st);
    if (rc != RT_OK) {
      free(all);
      return rc;
    }
  }
  /* The choices and the search's scratch in one block: one allocation, so a rank either has both
   * or fails (never a different answer from the other ranks of its node). */
  int *choice = malloc((size_t)local_size * (sizeof *choice + 1));
  rt_code rc = choice
                   ? RT_OK
                   : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %d device choices", local_size);
  if (rc == RT_OK) {
    (void)rt_device_assign(all, local_size, choice, (unsigned char *)(choice + local_size));
    if (me.count == 0) {
      snprintf(problem, cap, "rank %d cannot use CUDA: %s", me.rank, reason);
    } else if (choice[local_rank] < 0) {
      rt_device_conflict_text(name, all, local_size, local_rank, problem, cap);
    } else {
      rt_cuda_use_device(choice[local_rank], reason, sizeof reason);
      if (reason[0]) snprintf(problem, cap, "rank %d cannot use CUDA: %s", me.rank, reason);
      else *device = choice[local_rank];
    }
  }
  free(choice);
  if (all != &me) free(all);
  return rc;
}

#endif /* RINGTRAIN_WITH_CUDA */

/* The facts and the decision; comm == MPI_COMM_NULL: this process alone. */
static rt_code select_backend(const rt_config *cfg, MPI_Comm comm, rt_backend_choice *out,
                              rt_status *st) {
  memset(out, 0, sizeof *out);
  out->device = -1;
  rt_backend_facts f = {.config_path = cfg->path, .want = cfg->run.backend};
#if RINGTRAIN_WITH_CUDA
  f.built = 1;
  rt_status agreed;
  rt_status_clear(&agreed);
  /* Devices matter unless the CPU is asked for. */
  if (strcmp(f.want, "cpu") != 0) {
    char problem[RT_MESSAGE_MAX / 2];
    rt_code rc = rt_cuda_choose_device(comm, &out->device, problem, sizeof problem, st);
    if (comm != MPI_COMM_NULL && (rc = rt_agree(comm, rc, st)) != RT_OK) return rc;
    if (rc != RT_OK) return rc;
    /* The lowest rank's problem, on every rank. */
    rc = problem[0] ? rt_fail(&agreed, RT_ERR_CONFIG, "%s", problem) : RT_OK;
    if (comm != MPI_COMM_NULL) rc = rt_agree(comm, rc, &agreed);
    if (rc == RT_ERR_CONFIG) {
      f.device_problem = agreed.message;
    } else if (rc != RT_OK) { /* the agreement itself failed */
      *st = agreed;
      return rc;
    }
  }
#else
  (void)comm;
#endif
  rt_code rc = rt_backend_decide(&f, &out->use_cuda, out->note, sizeof out->note, st);
  if (!out->use_cuda) out->device = -1;
  return rc;
}

rt_code rt_backend_select(const rt_config *cfg, MPI_Comm comm, rt_backend_choice *out,
                          rt_status *st) {
  return select_backend(cfg, comm, out, st);
}

rt_code rt_backend_preview(const rt_config *cfg, rt_backend_choice *out, rt_status *st) {
  return select_backend(cfg, MPI_COMM_NULL, out, st);
}
