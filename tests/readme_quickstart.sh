#!/bin/sh
# readme_quickstart.sh SOURCE_DIR: README's "Using it" code block must be
# examples/quickstart.c, whole, so the two cannot drift apart.
set -eu
src=$1
shown=$(mktemp /tmp/clnn-readme-XXXXXX)
trap 'rm -f "$shown"' EXIT
# the first ```c block after the "## Using it" heading
awk '/^## Using it/ { section = 1; next }
     section && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' "$src/README.md" > "$shown"
if ! diff -u "$src/examples/quickstart.c" "$shown"; then
  echo "README.md's \"Using it\" block differs from examples/quickstart.c (diff above: - file, + README)" >&2
  exit 1
fi
echo "README shows examples/quickstart.c whole"
