# Environment of an unpacked ringtrain bundle (scripts/gpu/bundle.sh). Source it from bash:
#     cd ringtrain-bundle && source env.sh
# The bundle carries every library it needs except glibc, libstdc++ and the CUDA stack. This file
#  - checks that the node's glibc and libstdc++ are new enough (lib/node-requires.txt);
#  - finds each CUDA library the binaries load (libcudart, libcublas, libcublasLt, libcusparse
#    with its libnvJitLink, libnccl; and
#    libcupti, optional, for kernel launch counts) in this order: the CUDA toolkit (CUDA_HOME,
#    CUDA_PATH, the nvcc on PATH, /usr/local/cuda: lib64, lib, targets/x86_64-linux/lib,
#    extras/CUPTI/lib64), NCCL_HOME (lib, lib64), the nvidia-* Python wheels (nvidia/*/lib under
#    RINGTRAIN_SITE_PACKAGES, colon-separated, then python3's site-packages and the usual
#    virtual environments: /opt/*/.venv, /opt/*/venv, /opt/conda, ~/.local, VIRTUAL_ENV,
#    CONDA_PREFIX), then LD_LIBRARY_PATH and the system loader's cache; puts the folders found on
#    LD_LIBRARY_PATH and prints one line per library saying where it was found;
#  - finds the driver's libcuda.so.1 (the loader's cache, /usr/local/nvidia/lib64, ...) and,
#    for validate.sh, compute-sanitizer (RINGTRAIN_COMPUTE_SANITIZER);
#  - points Open MPI and PMIx at the bundle's plug-ins, help files and parameter file, and sets
#    Open MPI's isolated singleton mode: one rank runs without mpirun or orted. bin/ (with an
#    Open MPI mpirun for more ranks on this node) goes first on PATH.
# Returns 1 (having said why) when a required library is missing or the node is too old.

if [ -z "${BASH_VERSION:-}" ]; then
  echo "env.sh: source this file from bash" >&2
  return 1 2>/dev/null || exit 1
fi

_rt_env() {
  local bundle
  bundle=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
  local requires="$bundle/lib/node-requires.txt"
  if [[ ! -f "$requires" ]]; then
    echo "env.sh: $requires is missing: source the env.sh of an unpacked bundle" >&2
    return 1
  fi
  local rc=0 need have
  _rt_req() { sed -n "s/^$1 //p" "$requires"; }
  echo "env.sh: bundle $bundle ($(sed -n 's/^commit: //p' "$bundle/MANIFEST.txt" 2>/dev/null))"

  # glibc and libstdc++ of the node.
  need=$(_rt_req glibc)
  have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
  [[ -n "$have" ]] || have=$(ldd --version 2>/dev/null | head -1 | awk '{ print $NF }')
  if [[ -n "$need" && -n "$have" ]] &&
     [[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]]; then
    echo "env.sh: this node's glibc is $have; the bundle needs $need or newer (pack it on an older distribution)" >&2
    rc=1
  else
    echo "env.sh: glibc ${have:-unknown} (needs ${need:-any})"
  fi
  need=$(_rt_req glibcxx)
  if [[ -n "$need" ]]; then
    local stdcxx
    stdcxx=$( (/sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null) |
             awk '$1 == "libstdc++.so.6" && /x86-64/ { print $NF; exit }')
    if [[ -z "$stdcxx" ]]; then
      for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /lib64 /usr/lib; do
        if [[ -e "$d/libstdc++.so.6" ]]; then stdcxx=$d/libstdc++.so.6; break; fi
      done
    fi
    if [[ -z "$stdcxx" ]]; then
      echo "env.sh: no libstdc++.so.6 on this node (the CUDA code needs GLIBCXX_$need)" >&2
      rc=1
    elif ! grep -aqF "GLIBCXX_$need" "$stdcxx"; then
      echo "env.sh: $stdcxx lacks GLIBCXX_$need, which the bundle needs" >&2
      rc=1
    else
      echo "env.sh: libstdc++ $stdcxx (has GLIBCXX_$need)"
    fi
  fi

  # Candidate folders for the CUDA libraries, in search order: "label<TAB>folder" lines.
  local candidates="" root d sp py
  _rt_add() { [[ -d "$2" ]] && candidates+="$1"$'\t'"$(cd "$2" && pwd)"$'\n'; return 0; }
  local roots=()
  [[ -z "${CUDA_HOME:-}" ]] || roots+=("$CUDA_HOME")
  [[ -z "${CUDA_PATH:-}" ]] || roots+=("$CUDA_PATH")
  if command -v nvcc >/dev/null 2>&1; then roots+=("$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"); fi
  roots+=(/usr/local/cuda)
  for root in "${roots[@]}"; do
    for d in lib64 lib targets/x86_64-linux/lib extras/CUPTI/lib64; do _rt_add "CUDA toolkit $root" "$root/$d"; done
  done
  if [[ -n "${NCCL_HOME:-}" ]]; then
    for d in lib lib64; do _rt_add "NCCL_HOME" "$NCCL_HOME/$d"; done
  fi
  local sites=()
  if [[ -n "${RINGTRAIN_SITE_PACKAGES:-}" ]]; then IFS=: read -r -a sites <<<"$RINGTRAIN_SITE_PACKAGES"; fi
  for py in python3 "${VIRTUAL_ENV:-/nonexistent}/bin/python3" "${CONDA_PREFIX:-/nonexistent}/bin/python3"; do
    if command -v "$py" >/dev/null 2>&1; then
      while read -r sp; do [[ -z "$sp" ]] || sites+=("$sp"); done < <(timeout 20 "$py" -c \
        'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)
    fi
  done
  shopt -s nullglob
  sites+=(/opt/*/.venv/lib/python3*/site-packages /opt/*/venv/lib/python3*/site-packages
          /opt/*/lib/python3*/site-packages /opt/conda/lib/python3*/site-packages
          "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages
          "${CONDA_PREFIX:-/nonexistent}"/lib/python3*/site-packages
          "$HOME"/.local/lib/python3*/site-packages /usr/local/lib/python3*/dist-packages
          /usr/local/lib/python3*/site-packages /usr/lib/python3/dist-packages)
  for sp in ${sites[@]+"${sites[@]}"}; do
    for d in "$sp"/nvidia/*/lib; do _rt_add "Python wheel" "$d"; done
  done
  shopt -u nullglob
  local ld_dirs=() ldp
  if [[ -n "${LD_LIBRARY_PATH:-}" ]]; then IFS=: read -r -a ld_dirs <<<"$LD_LIBRARY_PATH"; fi
  for ldp in ${ld_dirs[@]+"${ld_dirs[@]}"}; do [[ -z "$ldp" ]] || _rt_add "LD_LIBRARY_PATH" "$ldp"; done
  local cache
  cache=$(/sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null || true)

  # One line per library; the folders found go first on LD_LIBRARY_PATH, in search order.
  local found_dirs=() lib optional label dir hit
  _rt_find() { # SONAME -> "label<TAB>folder" of the first candidate holding it
    local l f
    while IFS=$'\t' read -r l f; do
      [[ -n "$f" && -e "$f/$1" ]] && { printf '%s\t%s\n' "$l" "$f"; return 0; }
    done <<<"$candidates"
    f=$(awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }' <<<"$cache")
    [[ -n "$f" && -e "$f" ]] && { printf 'system loader cache\t%s\n' "$(dirname "$f")"; return 0; }
    return 1
  }
  for lib in $(_rt_req cuda) -- $(_rt_req cuda_optional); do
    if [[ "$lib" == -- ]]; then optional=1; continue; fi
    if hit=$(_rt_find "$lib"); then
      label=${hit%%$'\t'*}
      dir=${hit#*$'\t'}
      echo "env.sh: $lib: $dir/$lib ($label)${optional:+ (optional: kernel launch counts)}"
      found_dirs+=("$dir")
    elif [[ -n "${optional:-}" ]]; then
      echo "env.sh: $lib: not found (optional: validate.sh then reports kernel launches as not measured)"
    else
      echo "env.sh: $lib: NOT FOUND; searched the CUDA toolkit (CUDA_HOME, nvcc, /usr/local/cuda), NCCL_HOME, nvidia-* wheels under ${#sites[@]} site-packages folders, LD_LIBRARY_PATH and the loader cache; set CUDA_HOME, NCCL_HOME or RINGTRAIN_SITE_PACKAGES" >&2
      rc=1
    fi
  done

  # The driver's libcuda.so.1: the loader finds it through its cache; else a known folder.
  local driver
  driver=$(awk '$1 == "libcuda.so.1" && /x86-64/ { print $NF; exit }' <<<"$cache")
  if [[ -n "$driver" && -e "$driver" ]]; then
    echo "env.sh: libcuda.so.1 (driver): $driver (system loader cache)"
  else
    driver=
    for d in ${ld_dirs[@]+"${ld_dirs[@]}"} /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu \
             /usr/lib64 /run/nvidia/driver/usr/lib/x86_64-linux-gnu; do
      if [[ -n "$d" && -e "$d/libcuda.so.1" ]]; then driver=$d/libcuda.so.1; break; fi
    done
    if [[ -n "$driver" ]]; then
      echo "env.sh: libcuda.so.1 (driver): $driver"
      found_dirs+=("$(dirname "$driver")")
    else
      echo "env.sh: libcuda.so.1 (driver): not found (no NVIDIA driver visible; rt-gpu-query will say so)"
    fi
  fi

  # compute-sanitizer (optional, for validate.sh): PATH, the toolkit folders, the wheels.
  local san=""
  san=$(command -v compute-sanitizer 2>/dev/null || true)
  if [[ -z "$san" ]]; then
    shopt -s nullglob
    for d in "${roots[@]}" ${sites[@]+"${sites[@]}"}; do
      for f in "$d"/bin/compute-sanitizer "$d"/compute-sanitizer/compute-sanitizer \
               "$d"/nvidia/*/bin/compute-sanitizer "$d"/nvidia/*/compute-sanitizer/compute-sanitizer; do
        if [[ -x "$f" ]]; then san=$f; break 2; fi
      done
    done
    shopt -u nullglob
  fi
  if [[ -n "$san" ]]; then
    export RINGTRAIN_COMPUTE_SANITIZER="$san"
    echo "env.sh: compute-sanitizer: $san (optional)"
  else
    unset RINGTRAIN_COMPUTE_SANITIZER
    echo "env.sh: compute-sanitizer: not found (optional: validate.sh then does not run it)"
  fi

  local new_path="" seen=":"
  for d in ${found_dirs[@]+"${found_dirs[@]}"}; do
    [[ "$seen" == *":$d:"* ]] && continue
    seen+="$d:"
    new_path+="$d:"
  done
  export LD_LIBRARY_PATH="${new_path}${LD_LIBRARY_PATH:-}"
  LD_LIBRARY_PATH=${LD_LIBRARY_PATH%:}
  export PATH="$bundle/bin:$PATH"
  export RINGTRAIN_BUNDLE="$bundle"

  # Open MPI and PMIx relocated into the bundle (their install-dir environment variables), the
  # plug-in paths explicit, and singleton mode isolated: MPI_Init of a process started without
  # mpirun does not fork an orted.
  export OPAL_PREFIX="$bundle" OPAL_EXEC_PREFIX="$bundle" OPAL_BINDIR="$bundle/bin"
  export OPAL_LIBDIR="$bundle/lib" OPAL_PKGLIBDIR="$bundle/lib/openmpi"
  export OPAL_DATAROOTDIR="$bundle/share" OPAL_DATADIR="$bundle/share"
  export OPAL_PKGDATADIR="$bundle/share/openmpi" OPAL_SYSCONFDIR="$bundle/etc/openmpi"
  export OMPI_MCA_mca_base_component_path="$bundle/lib/openmpi"
  export OMPI_MCA_mca_base_param_files="$bundle/etc/openmpi/openmpi-mca-params.conf"
  export OMPI_MCA_ess_singleton_isolated=1
  export PMIX_PREFIX="$bundle" PMIX_INSTALL_PREFIX="$bundle" PMIX_LIBDIR="$bundle/lib"
  export PMIX_PKGLIBDIR="$bundle/lib/pmix" PMIX_PKGDATADIR="$bundle/share/pmix"
  export PMIX_SYSCONFDIR="$bundle/etc/pmix" PMIX_MCA_mca_base_component_path="$bundle/lib/pmix"
  # hwloc's plug-ins of the node (another hwloc version) are not ours to load.
  export HWLOC_PLUGINS_PATH="$bundle/lib/hwloc"
  echo "env.sh: Open MPI from the bundle: one rank runs without mpirun (isolated singleton); bin/mpirun for more ranks on this node"
  return $rc
}

_rt_env
_rt_env_rc=$?
unset -f _rt_env _rt_req _rt_add _rt_find
if [[ $_rt_env_rc -ne 0 ]]; then
  unset _rt_env_rc
  return 1 2>/dev/null || exit 1
fi
unset _rt_env_rc
