#!/usr/bin/env bash
# Packs ringtrain for a GPU node that has an NVIDIA driver and the CUDA libraries but none of the
# build dependencies: one relocatable .tar.xz (at most 20 MB) holding ringtrain, rt-gendata,
# rt-floor, rt-gpu-query, the gpu test binaries and scripts, scripts/gpu/validate.sh, and every
# non-CUDA shared library they load (OpenBLAS/LAPACK/gfortran, libgomp, libyaml, libcrypto,
# cmocka, Open MPI with its plug-ins, help files and mpirun, PMIx, hwloc, libevent), all with
# rpath $ORIGIN/../lib. It never carries cudart, cuBLAS, cuBLASLt, cuSPARSE, NCCL, CUPTI or the
# driver: `source env.sh` in the unpacked folder finds them on the node (docs/gpu-validation.md).
#
# Usage: scripts/gpu/bundle.sh [--build-dir DIR] [--xz-level N] [OUT.tar.xz]
#   (default)        configures and builds Release with the CUDA backend for sm_80 and sm_90 in
#                    build-bundle (a full build: the gpu tests are part of it) and packs that
#   --build-dir DIR  packs the binaries of an existing build instead (no build; a CPU-only build
#                    gives a CPU-only bundle; sanitizer builds are refused)
#   --xz-level N     xz compression preset 0-9 (default 9, single-threaded, ~1 min; the 20 MB
#                    limit is checked at 9 only: lower presets are for quick local checks
#                    such as tests/cli/test_bundle.sh)
#   OUT.tar.xz       the archive (default build-bundle/ringtrain-bundle.tar.xz); it unpacks into
#                    one folder, ringtrain-bundle/
# Exit status: 0 packed; 1 a check failed (a CUDA library or a library from outside the bundle
# slipped in, the archive is over 20 MB, a library is missing); 2 bad options.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

build_dir=
xz_level=9
out=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=${2:?--build-dir needs a folder}; shift 2 ;;
    --xz-level) xz_level=${2:?--xz-level needs 0-9}; shift 2 ;;
    -h|--help) sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "bundle.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) [[ -z "$out" ]] || { echo "bundle.sh: one output file only" >&2; exit 2; }; out=$1; shift ;;
  esac
done
[[ "$xz_level" =~ ^[0-9]$ ]] || { echo "bundle.sh: --xz-level expects 0-9" >&2; exit 2; }
max_bytes=20000000

die() { echo "bundle.sh: $*" >&2; exit 1; }
trap 'echo "bundle.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
for tool in patchelf xz objdump strip ldd tar; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run scripts/setup.sh"
done

if [[ -z "$build_dir" ]]; then
  scripts/setup.sh
  build_dir=build-bundle
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DRINGTRAIN_CUDA=ON -DRINGTRAIN_WERROR=ON \
    -DRINGTRAIN_TESTS=ON -DRINGTRAIN_SANITIZE=OFF -DCMAKE_CUDA_ARCHITECTURES="80;90"
  cmake --build "$build_dir" -j"$(nproc)"
fi
build_dir=$(cd "$build_dir" && pwd)
[[ -n "$out" ]] || out="$repo/build-bundle/ringtrain-bundle.tar.xz"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
for b in ringtrain rt-gendata rt-floor; do
  [[ -x "$build_dir/$b" ]] || die "$build_dir/$b is missing: build it first"
done
# (Output is captured before it is searched: with pipefail, `ldd | grep -q` fails when grep exits
# at its first match and ldd, still writing, dies of SIGPIPE.)
deps=$(ldd "$build_dir/ringtrain")
if [[ "$deps" == *libasan* || "$deps" == *libubsan* ]]; then
  die "$build_dir is a sanitizer build; bundle a Release build"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ringtrain-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/ringtrain-bundle"
mkdir -p "$stage"/{bin/tests,lib/openmpi,lib/pmix,share/openmpi,share/pmix,etc/openmpi,tests/gpu,configs/data,scripts/gpu,docs}
manifest_libs="$work/libs.txt"      # soname <- origin
manifest_skipped="$work/skipped.txt" # what was left out and why
: >"$manifest_libs"
: >"$manifest_skipped"

# ---- classification of shared libraries --------------------------------------------------------
# Base system libraries every Linux with glibc has; they must come from the node (glibc's parts
# must match its loader). libstdc++ too: ours need only its oldest symbol versions (checked below
# and by env.sh) while the node's CUDA libraries may need a newer one than this machine's.
is_base() {
  case "$1" in
    linux-vdso.so.*|ld-linux*.so.*|*/ld-linux*.so.*|libc.so.*|libm.so.*|libmvec.so.*|libpthread.so.*|libdl.so.*|\
    librt.so.*|libutil.so.*|libresolv.so.*|libanl.so.*|libgcc_s.so.*|libstdc++.so.*) return 0 ;;
  esac
  return 1
}
# The CUDA stack: found on the node by env.sh, never carried.
is_cuda() {
  case "$1" in
    libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libnccl.so*|libcupti.so*|libnvrtc*|\
    libnvJitLink*|libnvidia-*|libcufft*|libcurand*|libcusolver*|libcusparse*|libnvToolsExt*|\
    libnvperf*|libcudnn*|libnvtx*) return 0 ;;
  esac
  return 1
}
# Open MPI plug-ins for networks a single-node validation does not use; they would pull in UCX,
# libfabric, verbs, PSM and their providers (tens of MB). Without them Open MPI uses shared
# memory and TCP.
is_network_stack() {
  case "$1" in
    liboshmem.so*|libucp.so*|libucs.so*|libuct.so*|libucm.so*|libfabric.so*|libibverbs.so*|\
    librdmacm.so*|libpsm*|libefa.so*|libnl-*|libinfinipath.so*|libmca_common_ofi.so*|\
    libmca_common_ucx.so*|libmca_common_verbs.so*|libhcoll*|libmxm*|libknem*|libxpmem*) return 0 ;;
  esac
  return 1
}

# ldd_deps FILE: "soname<TAB>path" per dependency (path empty for the vdso / loader, "not found").
ldd_deps() {
  env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd "$1" 2>/dev/null | awk '
    $2 == "=>" { p = $3; if ($3 == "not") p = "not found"; printf "%s\t%s\n", $1, p; next }
    NF >= 1 { printf "%s\t\n", $1 }'
}

# ---- binaries ---------------------------------------------------------------------------------
copy_exe() { # SRC DEST
  cp "$1" "$2"
  chmod u+w "$2"
  strip --strip-unneeded "$2"
}
for b in ringtrain rt-gendata rt-floor rt-gpu-query; do
  if [[ -x "$build_dir/$b" ]]; then copy_exe "$build_dir/$b" "$stage/bin/$b"; fi
done
gpu_tests=0
for t in "$build_dir"/tests/test_gpu_*; do
  [[ -f "$t" && -x "$t" ]] || continue
  copy_exe "$t" "$stage/bin/tests/$(basename "$t")"
  gpu_tests=$((gpu_tests + 1))
done
cuda_build=0
if grep -q '^libcudart' <<<"$(ldd_deps "$build_dir/ringtrain" | cut -f1)"; then cuda_build=1; fi
if [[ -f "$build_dir/cuda/librt_launch_count.so" ]]; then
  copy_exe "$build_dir/cuda/librt_launch_count.so" "$stage/lib/librt_launch_count.so"
elif (( cuda_build )); then
  echo "librt_launch_count.so: not built (the toolkit has no CUPTI): validate.sh cannot count kernel launches" >>"$manifest_skipped"
fi
if (( ! cuda_build )); then
  echo "bundle.sh: note: $build_dir was built without the CUDA backend; the bundle runs on the CPU only" >&2
fi

# ---- Open MPI: mpirun, plug-ins, help files, its parameter file; PMIx's plug-ins ----------------
libmpi=$(ldd_deps "$build_dir/ringtrain" | awk -F'\t' '$1 ~ /^libmpi\.so/ { print $2 }')
[[ -n "$libmpi" && -f "$libmpi" ]] || die "ringtrain does not load libmpi.so from a file: $libmpi"
ompi_path() { # NAME: an Open MPI install path (ompi_info), empty when unknown
  if command -v ompi_info >/dev/null 2>&1; then
    ompi_info --path "$1" --parsable 2>/dev/null | sed -n "s/^path:$1://p"
  fi
}
pkglibdir=$(ompi_path pkglibdir)
[[ -d "$pkglibdir" ]] || pkglibdir=$(find "$(dirname "$(readlink -f "$libmpi")")" -maxdepth 1 -type d -name 'openmpi*' | head -1)
[[ -d "$pkglibdir" ]] || die "cannot find Open MPI's plug-in folder (ompi_info --path pkglibdir)"
pkgdatadir=$(ompi_path pkgdatadir)
sysconfdir=$(ompi_path sysconfdir)
mpirun_bin=$(command -v mpirun || true)
if [[ -n "$mpirun_bin" ]] && "$mpirun_bin" --version 2>/dev/null | grep -q 'Open MPI'; then
  copy_exe "$(readlink -f "$mpirun_bin")" "$stage/bin/mpirun"
else
  echo "mpirun: no Open MPI mpirun on PATH; the bundle runs one rank only" >>"$manifest_skipped"
fi
pmix_lib=
for plugin in "$pkglibdir"/mca_*.so; do
  name=$(basename "$plugin")
  deps=$(ldd_deps "$plugin")
  heavy=$(cut -f1 <<<"$deps" | while read -r dep; do
            if is_network_stack "$dep"; then echo "$dep"; fi; done | tr '\n' ' ')
  if [[ -n "$heavy" ]]; then
    echo "openmpi plug-in $name: needs ${heavy% } (network stacks for multi-node jobs)" >>"$manifest_skipped"
    continue
  fi
  missing=$(awk -F'\t' '$2 == "not found" { print $1 }' <<<"$deps" | tr '\n' ' ')
  if [[ -n "$missing" ]]; then
    echo "openmpi plug-in $name: its libraries are not installed here: ${missing% }" >>"$manifest_skipped"
    continue
  fi
  cp "$plugin" "$stage/lib/openmpi/"
  p=$(awk -F'\t' '$1 ~ /^libpmix\.so/ { print $2 }' <<<"$deps")
  [[ -z "$p" ]] || pmix_lib=$p
done
if [[ -n "$pkgdatadir" && -d "$pkgdatadir" ]]; then
  cp "$pkgdatadir"/help-*.txt "$stage/share/openmpi/"
  [[ ! -d "$pkgdatadir/amca-param-sets" ]] || cp -R "$pkgdatadir/amca-param-sets" "$stage/share/openmpi/"
fi
if [[ -n "$sysconfdir" && -f "$sysconfdir/openmpi-mca-params.conf" ]]; then
  cp "$sysconfdir/openmpi-mca-params.conf" "$stage/etc/openmpi/"
fi
if [[ -n "$pmix_lib" ]]; then
  pmix_dir=$(dirname "$(readlink -f "$pmix_lib")")
  if [[ -d "$pmix_dir/pmix" ]]; then cp "$pmix_dir"/pmix/*.so "$stage/lib/pmix/"; fi
  if [[ -d "$pmix_dir/../share/pmix" ]]; then cp "$pmix_dir"/../share/pmix/help-*.txt "$stage/share/pmix/"; fi
fi

# ---- every non-CUDA, non-base library the ELF files load ---------------------------------------
elf_files() {
  find "$stage/bin" "$stage/lib" -type f \( -perm -u+x -o -name '*.so*' \) | while read -r f; do
    if head -c 4 "$f" | grep -q 'ELF'; then echo "$f"; fi
  done
}
cuda_needed="$work/cuda-needed.txt"
cuda_optional="$work/cuda-optional.txt"
: >"$cuda_needed"
: >"$cuda_optional"
while read -r elf; do
  while IFS=$'\t' read -r soname path; do
    name=$(basename "$soname")
    if is_base "$name"; then continue; fi
    if is_cuda "$name"; then
      if [[ "$(basename "$elf")" == librt_launch_count.so ]]; then echo "$name" >>"$cuda_optional"
      else echo "$name" >>"$cuda_needed"; fi
      continue
    fi
    [[ "$path" != "not found" && -n "$path" ]] || die "$(basename "$elf") needs $name, which is not installed here"
    [[ -e "$stage/lib/$name" ]] && continue
    cp "$(readlink -f "$path")" "$stage/lib/$name"
    chmod u+w "$stage/lib/$name"
    printf '%s\t%s\n' "$name" "$path" >>"$manifest_libs"
  done < <(ldd_deps "$elf")
done < <(elf_files)

# rpath: bin/ -> ../lib, bin/tests/ -> ../../lib, lib/ -> itself, plug-ins -> their parent.
# DT_RPATH (--force-rpath), not RUNPATH: it is searched before LD_LIBRARY_PATH, so a node whose
# environment points at another Open MPI or OpenBLAS still loads the bundle's.
while read -r elf; do
  case "$elf" in
    "$stage"/bin/tests/*) rpath='$ORIGIN/../../lib' ;;
    "$stage"/bin/*) rpath='$ORIGIN/../lib' ;;
    "$stage"/lib/openmpi/*|"$stage"/lib/pmix/*) rpath='$ORIGIN/..' ;;
    *) rpath='$ORIGIN' ;;
  esac
  patchelf --force-rpath --set-rpath "$rpath" "$elf"
done < <(elf_files)

# ---- checks -----------------------------------------------------------------------------------
forbidden=$(find "$stage" -type f | while read -r f; do
              if is_cuda "$(basename "$f")"; then echo "${f#"$stage"/}"; fi; done)
[[ -z "$forbidden" ]] || die "CUDA libraries slipped into the bundle: $forbidden"
while read -r elf; do
  while IFS=$'\t' read -r soname path; do
    name=$(basename "$soname")
    if is_base "$name" || is_cuda "$name"; then continue; fi
    case "$(readlink -f "$path")" in
      "$stage"/lib/*) ;;
      *) die "${elf#"$stage"/} would load $name from $path, outside the bundle" ;;
    esac
  done < <(ldd_deps "$elf")
done < <(elf_files)

# What the node must provide: the newest glibc / libstdc++ symbol versions any carried file needs,
# and the CUDA libraries (env.sh checks both).
symbols="$work/symbols.txt"
elf_files | while read -r f; do
  { objdump -T "$f" 2>/dev/null || true; } | { grep -o '(\(GLIBC\|GLIBCXX\|CXXABI\)_[0-9.]*)' || true; } |
    tr -d '()' | sed "s|\$| ${f#"$stage"/}|"
done | sort -u >"$symbols"
max_version() { # PREFIX: the newest PREFIX_x.y.z symbol version any ELF file needs
  sed -n "s/^$1_\([0-9.]*\) .*/\1/p" "$symbols" | sort -uV | tail -1
}
needed_by() { # PREFIX VERSION: the files that need it
  awk -v v="$1_$2" '$1 == v { print $2 }' "$symbols" | tr '\n' ' '
}
{
  echo "# What the node must provide (read by env.sh; written by scripts/gpu/bundle.sh)."
  echo "glibc $(max_version GLIBC)"
  echo "glibcxx $(max_version GLIBCXX)"
  echo "cxxabi $(max_version CXXABI)"
  echo "cuda $(sort -u "$cuda_needed" | tr '\n' ' ')"
  echo "cuda_optional $(sort -u "$cuda_optional" | tr '\n' ' ')"
} >"$stage/lib/node-requires.txt"

# ---- scripts, tests, configs, docs ------------------------------------------------------------
cp scripts/gpu/env.sh "$stage/env.sh"
cp scripts/gpu/validate.sh scripts/gpu/validate_lib.sh "$stage/scripts/gpu/"
cp scripts/mpirun.sh "$stage/scripts/"
cp tests/lib.sh "$stage/tests/"
cp tests/gpu/*.sh "$stage/tests/gpu/"
cp configs/*.yaml "$stage/configs/"
find configs/data -maxdepth 1 -type f -exec cp -t "$stage/configs/data/" {} + # not FILE.rtcache/
cp docs/gpu-validation.md "$stage/docs/"

rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
{
  echo "ringtrain bundle"
  echo "commit: $rev$dirty"
  echo "packed: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "build: $build_dir ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt"), CUDA architectures $(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$build_dir/CMakeCache.txt"))"
  if command -v nvcc >/dev/null 2>&1; then echo "nvcc: $(nvcc --version | tail -1)"; fi
  echo "gpu test binaries: $gpu_tests"
  echo
  echo "Needs on the node (lib/node-requires.txt):"
  sed -n 's/^\([a-z_]*\) /  \1: /p' "$stage/lib/node-requires.txt"
  glibc=$(max_version GLIBC)
  echo "  (glibc $glibc is needed by: $(needed_by GLIBC "$glibc"))"
  echo
  echo "Carried libraries (lib/), from:"
  sort "$manifest_libs" | awk -F'\t' '{ printf "  %-32s %s\n", $1, $2 }'
  echo
  echo "Not carried: glibc's libraries and the loader, libgcc_s and libstdc++ (every Linux has them;"
  echo "glibc must match the node's loader; see node-requires.txt), and the CUDA stack (env.sh)."
  echo "Left out:"
  sed 's/^/  /' "$manifest_skipped"
} >"$stage/MANIFEST.txt"

tmp_out="$out.tmp.$$"
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner -cf - ringtrain-bundle |
  xz -T0 "-$xz_level" >"$tmp_out"
mv "$tmp_out" "$out"
bytes=$(stat -c %s "$out")
unpacked=$(du -sb "$stage" | cut -f1)
echo "bundle.sh: $out: $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB;" \
     "$(awk -v b="$unpacked" 'BEGIN { printf "%.1f", b / 1e6 }') MB unpacked), $(wc -l <"$manifest_libs") libraries," \
     "$(find "$stage/lib/openmpi" -name '*.so' | wc -l) Open MPI plug-ins, $gpu_tests gpu test binaries"
if (( xz_level == 9 && bytes > max_bytes )); then
  die "$out is $bytes bytes, over the limit of $max_bytes"
fi
