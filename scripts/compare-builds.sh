#!/bin/sh
# compare-builds.sh OLD_BENCH NEW_BENCH [BATCH...] - are two builds' results
# bit-identical? For every problem of the batch files (default: all of
# bench/inputs/) and every pass its family offers, NEW_BENCH writes the
# problem's inputs (--mode=I), both builds run it on them (--mode=R), and
# their output files are compared byte for byte. OLD_BENCH only needs R
# mode, which every build has.
#
#   git worktree add /tmp/clnn-old <commit> && cmake -S /tmp/clnn-old -B /tmp/clnn-old/build && \
#     cmake --build /tmp/clnn-old/build -j2
#   scripts/compare-builds.sh /tmp/clnn-old/build/bench/clnn-bench build/bench/clnn-bench
#
# Prints one line per differing file and a summary; exits 1 if any differ
# or a run fails. Environment such as CLNN_DEVICE_CLASS applies to both.
set -u
old=${1:?usage: compare-builds.sh OLD_BENCH NEW_BENCH [BATCH...]}
new=${2:?usage: compare-builds.sh OLD_BENCH NEW_BENCH [BATCH...]}
shift 2
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- bench/inputs/*
work=$(mktemp -d /tmp/clnn-compare-XXXXXX)
trap 'rm -rf "$work"' EXIT
export CLNN_CACHE_DIR=${CLNN_CACHE_DIR-}
same=0 differ=0 failed=0
for batch in "$@"; do
  [ -f "$batch" ] || continue
  sed 's/#.*//' "$batch" | grep -v '^[[:space:]]*$' > "$work/lines"
  while IFS= read -r line; do
    family=${line%% *}
    passes=$("$new" --passes "$family") || { failed=$((failed + 1)); continue; }
    for pass in $(echo "$passes" | tr ',' ' '); do
      rm -rf "$work/old" "$work/new"
      mkdir -p "$work/new"
      if ! "$new" --mode=I --quiet --pass="$pass" --dir "$work/new" "$line" > "$work/log" 2>&1; then
        echo "FAIL (inputs) $pass: $line"; cat "$work/log"; failed=$((failed + 1)); continue
      fi
      cp -r "$work/new" "$work/old"
      if ! "$old" --mode=R --quiet --pass="$pass" --dir "$work/old" "$line" > "$work/log" 2>&1 ||
         ! "$new" --mode=R --quiet --pass="$pass" --dir "$work/new" "$line" >> "$work/log" 2>&1; then
        echo "FAIL (run) $pass: $line"; cat "$work/log"; failed=$((failed + 1)); continue
      fi
      # every file: outputs, and inputs the op updates in place (optimizer state)
      for f in "$work/new"/*.npy; do
        name=$(basename "$f")
        if cmp -s "$f" "$work/old/$name"; then
          same=$((same + 1))
        else
          echo "DIFFERS $pass $name: $line"
          differ=$((differ + 1))
        fi
      done
    done
  done < "$work/lines"
done
echo "compare-builds: $same outputs identical, $differ differ, $failed runs failed"
[ "$differ" -eq 0 ] && [ "$failed" -eq 0 ]
