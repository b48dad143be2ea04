#!/usr/bin/env bash
# The relocatable bundle (scripts/gpu/bundle.sh) needs nothing from the build machine. It is
# packed from this build (--build-dir, quick xz preset), unpacked, and run inside a mount
# namespace in which every library it carries is hidden at its system path (/dev/null bound over
# each file; an empty folder over the Open MPI, PMIx, OpenBLAS, LAPACK, BLAS and hwloc folders,
# Open MPI's help files and parameter file), with mpirun/orted, the source tree and the build
# folder hidden too; the test first checks that each of those paths reads as empty there. Then:
#  - `ringtrain train` of the quickstart config (config and data copied here, relative path),
#    one rank, no mpirun, backend auto -> CPU (CUDA_VISIBLE_DEVICES empty): it succeeds and its
#    model files are byte-identical to those of the same run with the normal build;
#  - the bundled mpirun on 2 ranks gives the same model files;
#  - without Open MPI's isolated singleton mode (env.sh sets it) the same run fails for want of
#    orted, and says so with Open MPI's own help text (the relocated help files are read);
#  - in a CUDA build, env.sh with the CUDA libraries' folders hidden finds them in nvidia-* wheels
#    laid out as the CUDA 13 wheels are (nvidia/cu13/lib, nvidia/nccl/lib) in a virtual
#    environment under /opt, says so line by line, and training from the bundle gives the same
#    model files again; with NCCL missing too, env.sh fails naming it.
# Skips (77), saying why, only where mount namespaces are not allowed and for sanitizer builds.
source "$(dirname "$0")/../lib.sh" "$@"
BUILD=$(cd "$(dirname "$RT")" && pwd)

deps=$(ldd "$RT") # captured first: `ldd | grep -q` under pipefail fails when ldd gets SIGPIPE
if [[ "$deps" == *libasan* || "$deps" == *libubsan* ]]; then
  echo "SKIPPED: a sanitizer build (bundles are made from Release builds)"
  exit 77
fi
unshare_cmd=()
if [[ $(id -u) -eq 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  unshare_cmd=(unshare -m --propagation private)
elif unshare -r -m --propagation private true 2>/dev/null; then
  unshare_cmd=(unshare -r -m --propagation private)
else
  echo "SKIPPED: mount namespaces are not allowed here (unshare -m and unshare -rm both fail)"
  exit 77
fi

"$SRC/scripts/gpu/bundle.sh" --build-dir "$BUILD" --xz-level 0 "$WORK/b.tar.xz" >"$WORK/bundle.out" 2>&1 ||
  { cat "$WORK/bundle.out"; fail "bundle.sh failed"; finish; }
mkdir "$WORK/u"
tar -C "$WORK/u" -xf "$WORK/b.tar.xz"
B="$WORK/u/ringtrain-bundle"
[[ -x "$B/bin/ringtrain" && -f "$B/env.sh" ]] && pass || fail "the bundle lacks bin/ringtrain or env.sh"
mkdir -p "$WORK/q/data" "$WORK/empty"
cp "$SRC/configs/quickstart.yaml" "$WORK/q/"
cp "$SRC/configs/data/digits.csv" "$WORK/q/data/"
export CUDA_VISIBLE_DEVICES=
"$RT" train "$WORK/q/quickstart.yaml" --quiet --output "$WORK/ref" || fail "the normal build's run failed"

# What to hide: every carried library where the build found it (MANIFEST), the folders only such
# libraries live in, Open MPI's and PMIx's install folders, the launchers, the sources, the build.
awk '/^Carried libraries/ { on = 1; next } on && NF == 0 { exit } on && NF == 2 { print $2 }' \
  "$B/MANIFEST.txt" >"$WORK/origins.txt"
[[ $(wc -l <"$WORK/origins.txt") -ge 10 ]] && pass || fail "MANIFEST lists too few carried libraries"
: >"$WORK/hide-files.txt"
: >"$WORK/hide-dirs.txt"
while read -r origin; do
  real=$(readlink -f "$origin")
  echo "$real" >>"$WORK/hide-files.txt"
  dir=$(dirname "$real")
  case "$dir" in
    /lib|/lib64|/usr/lib|/usr/lib64|/lib/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu) ;;
    *) echo "$dir" >>"$WORK/hide-dirs.txt" ;;
  esac
done <"$WORK/origins.txt"
for d in /usr/lib/x86_64-linux-gnu/{openmpi,pmix2,blas,lapack,hwloc} /usr/lib/x86_64-linux-gnu/openblas-* \
         /usr/share/openmpi /etc/openmpi "$SRC" "$BUILD"; do
  [[ -d "$d" ]] && echo "$d" >>"$WORK/hide-dirs.txt"
done
if command -v ompi_info >/dev/null 2>&1; then
  for key in pkglibdir pkgdatadir sysconfdir; do
    ompi_info --path "$key" --parsable 2>/dev/null | sed -n "s/^path:$key://p" >>"$WORK/hide-dirs.txt"
  done
fi
for exe in mpirun mpiexec orterun orted; do
  p=$(command -v "$exe" || true)
  [[ -z "$p" ]] || readlink -f "$p" >>"$WORK/hide-files.txt"
done
sort -u -o "$WORK/hide-dirs.txt" "$WORK/hide-dirs.txt"
sort -u -o "$WORK/hide-files.txt" "$WORK/hide-files.txt"

# The inner scripts run in the namespace; they print "FAIL: ..." lines and exit 1 on failure.
cat >"$WORK/hide.sh" <<'EOF'
# Sourced inside the namespace: files first (their paths go through the folders hidden next).
while read -r f; do
  [[ -e "$f" ]] && mount --bind /dev/null "$f"
done <"$WORK/hide-files.txt"
while read -r d; do
  [[ -d "$d" ]] && mount --bind "$WORK/empty" "$d"
done <"$WORK/hide-dirs.txt"
bad=0
while read -r origin; do
  if [[ -s "$origin" ]]; then echo "FAIL: $origin is still readable in the namespace"; bad=1; fi
done <"$WORK/origins.txt"
for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/share/openmpi; do
  if [[ -n "$(ls -A "$d" 2>/dev/null)" ]]; then echo "FAIL: $d is still visible"; bad=1; fi
done
if [[ -n "$(ls -A "$SRC" 2>/dev/null)" ]]; then echo "FAIL: the source tree is still visible"; bad=1; fi
[[ $bad -eq 0 ]] || exit 1
unset LD_LIBRARY_PATH OPAL_PREFIX
EOF

cat >"$WORK/inner_cpu.sh" <<'EOF'
set -uo pipefail
source "$WORK/hide.sh"
status=0
source "$B/env.sh" >"$WORK/env.out" 2>&1 || { echo "FAIL: env.sh failed: $(cat "$WORK/env.out")"; exit 1; }
if [[ "$(ldd "$B/bin/ringtrain")" == *"not found"* ]]; then
  echo "FAIL: ldd of the bundled ringtrain: $(ldd "$B/bin/ringtrain" | grep 'not found')"; status=1
fi
cd "$WORK"
ringtrain train q/quickstart.yaml --quiet --output "$WORK/b1" >"$WORK/b1.out" 2>&1 ||
  { echo "FAIL: 1 rank from the bundle: $(cat "$WORK/b1.out")"; status=1; }
bash "$B/scripts/mpirun.sh" 2 ringtrain train q/quickstart.yaml --quiet --output "$WORK/b2" \
  >"$WORK/b2.out" 2>&1 || { echo "FAIL: 2 ranks with the bundled mpirun: $(cat "$WORK/b2.out")"; status=1; }
if OMPI_MCA_ess_singleton_isolated=0 ringtrain train q/quickstart.yaml --quiet --output "$WORK/b3" \
     >"$WORK/b3.out" 2>&1; then
  echo "FAIL: without the isolated singleton mode the run did not need orted (is orted hidden?)"; status=1
elif ! grep -q "orte_init failed" "$WORK/b3.out" || grep -q "Sorry!" "$WORK/b3.out"; then
  echo "FAIL: the failure without orted lacks Open MPI's help text: $(head -c 800 "$WORK/b3.out")"; status=1
fi
exit $status
EOF
WORK="$WORK" B="$B" SRC="$SRC" "${unshare_cmd[@]}" bash "$WORK/inner_cpu.sh" >"$WORK/inner_cpu.out" 2>&1 \
  && pass || fail "in the namespace: $(cat "$WORK/inner_cpu.out")"
if [[ -d "$WORK/b1" ]]; then
  same_models "$WORK/ref" "$WORK/b1" "1 rank from the bundle"
  grep -q '"backend":"cpu"' "$WORK/b1/results.jsonl" && pass || fail "the bundle's run did not train on the CPU"
fi
[[ ! -d "$WORK/b2" ]] || same_models "$WORK/ref" "$WORK/b2" "2 ranks from the bundle"

# CUDA builds: env.sh's search of the nvidia-* wheels, with the CUDA libraries' folders hidden.
cuda_libs=$(sed -n 's/^cuda //p' "$B/lib/node-requires.txt")
if [[ -z "${cuda_libs// /}" ]]; then
  echo "note: a build without the CUDA backend; env.sh's search for the CUDA libraries was not tested"
  finish
  exit 0
fi
venv=/opt/rt-test-env/.venv/lib/python3.12/site-packages/nvidia
: >"$WORK/wheel-files.txt"
# Where this build loads them from: ringtrain, the launch counter, the gpu test binaries (NCCL:
# only tests/test_gpu_nccl links it; ringtrain hands models on with MPI).
loaded=$(for f in "$RT" "$BUILD/cuda/librt_launch_count.so" "$BUILD"/tests/test_gpu_*; do
           [[ ! -f "$f" ]] || ldd "$f"; done)
for lib in $cuda_libs $(sed -n 's/^cuda_optional //p' "$B/lib/node-requires.txt"); do
  src=$(awk -v n="$lib" '$1 == n && $2 == "=>" { print $3; exit }' <<<"$loaded")
  [[ -n "$src" && -f "$src" ]] || { fail "cannot find $lib of this build"; continue; }
  sub=cu13
  [[ "$lib" != libnccl.so* ]] || sub=nccl
  printf '%s\t%s\n' "$(readlink -f "$src")" "$venv/$sub/lib/$lib" >>"$WORK/wheel-files.txt"
done
cat >"$WORK/inner_wheels.sh" <<'EOF'
set -uo pipefail
# The wheel layout under a tmpfs /opt, the real libraries bound into it, then their folders hidden.
mount -t tmpfs none /opt
while IFS=$'\t' read -r real fake; do
  mkdir -p "$(dirname "$fake")" && : >"$fake" && mount --bind "$real" "$fake"
done <"$WORK/wheel-files.txt"
cut -f1 "$WORK/wheel-files.txt" | xargs -n1 dirname | sort -u >>"$WORK/hide-dirs.txt"
source "$WORK/hide.sh"
unset CUDA_HOME CUDA_PATH NCCL_HOME RINGTRAIN_SITE_PACKAGES VIRTUAL_ENV CONDA_PREFIX
status=0
source "$B/env.sh" >"$WORK/env2.out" 2>&1 || { echo "FAIL: env.sh failed: $(cat "$WORK/env2.out")"; exit 1; }
while IFS=$'\t' read -r real fake; do
  grep -qF "env.sh: $(basename "$fake"): $fake (Python wheel)" "$WORK/env2.out" ||
    { echo "FAIL: env.sh did not report $fake: $(cat "$WORK/env2.out")"; status=1; }
done <"$WORK/wheel-files.txt"
cd "$WORK"
ringtrain train q/quickstart.yaml --quiet --output "$WORK/w1" >"$WORK/w1.out" 2>&1 ||
  { echo "FAIL: training with the wheels' libraries: $(cat "$WORK/w1.out")"; status=1; }
# Without NCCL anywhere, env.sh fails and names it.
umount "$(grep libnccl "$WORK/wheel-files.txt" | cut -f2)"
rm -f "$(grep libnccl "$WORK/wheel-files.txt" | cut -f2)"
if (source "$B/env.sh" >"$WORK/env3.out" 2>&1); then
  echo "FAIL: env.sh succeeded without NCCL: $(cat "$WORK/env3.out")"; status=1
elif ! grep -q "libnccl.so.2: NOT FOUND" "$WORK/env3.out"; then
  echo "FAIL: env.sh's failure does not name libnccl.so.2: $(cat "$WORK/env3.out")"; status=1
fi
exit $status
EOF
WORK="$WORK" B="$B" SRC="$SRC" "${unshare_cmd[@]}" bash "$WORK/inner_wheels.sh" >"$WORK/inner_wheels.out" 2>&1 \
  && pass || fail "wheels in the namespace: $(cat "$WORK/inner_wheels.out")"
[[ ! -d "$WORK/w1" ]] || same_models "$WORK/ref" "$WORK/w1" "the bundle with the wheels' CUDA libraries"
finish
