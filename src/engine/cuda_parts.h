/* The parts of model groups on the CUDA backend: a group's members (src/engine/groups.h: they share
 * every batch) split by what a fused CUDA context can hold together (cuda/rt_cuda.h,
 * rt_cuda_group_uniform: one kind and one layout, e.g. one k of k-means, one MLP network; at most
 * RT_CUDA_GROUP_MAX_MEMBERS members, CUDA's limit on the grid dimension of the members). Each
 * part of a kind with fused kernels gets one context (src/engine/backend_cuda.c), so a sweep over
 * k or over widths still integrates with a constant number of launches per batch for each k or
 * width, and every model of such a kind always takes a fused context (alone: a part of one), never
 * its own slot: its bytes do not depend on its group's other members. The members of kinds without
 * fused kernels (linear with solver exact) form one part per group, integrated member by member.
 * A pure function of the specs and groups, like the groups themselves. */
#ifndef RINGTRAIN_CUDA_PARTS_H
#define RINGTRAIN_CUDA_PARTS_H

#include "groups.h"

#if RINGTRAIN_WITH_CUDA
/* Forms the parts of groups (over specs[0..groups->models)) as an rt_groups: parts numbered group
 * by group, inside a group by their first member; members ascending inside a part. Free with
 * rt_groups_free. */
rt_code rt_cuda_parts_form(const rt_model_spec *specs, const rt_groups *groups, rt_groups *parts,
                           rt_status *st);
#endif

#endif
