#!/usr/bin/env bash
# Builds the demo's data sets under demo-data/ (not committed):
#   prose: the King James Bible (Debian bible-kjv, public domain) and The Devil's Dictionary
#          (Debian dict-devil, public domain), one document per book / per dictionary;
#   code:  the Python standard library's top-level modules (this machine's python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p demo-data/code
if [ ! -d demo-data/prose ]; then
  command -v bible >/dev/null || { echo "bible-kjv is not installed (apt-get install bible-kjv)" >&2; exit 1; }
  [ -f /usr/share/dictd/devil.dict.dz ] || { echo "dict-devil is not installed (apt-get install dict-devil)" >&2; exit 1; }
  rm -rf demo-data/prose.tmp && mkdir -p demo-data/prose.tmp/kjv demo-data/prose.tmp/devil
  # one document per book of the Bible, verse references removed
  bible -f "Gen1:1-Rev22:21" | awk '{ split($1, r, /[0-9]+:/); book = r[1]; if (book != last) { n++; last = book }
      sub(/^[^ ]+ /, ""); print > sprintf("demo-data/prose.tmp/kjv/%02d.txt", n) }'
  # the Devil's Dictionary in documents of about 40 kB, at line boundaries
  gzip -dc /usr/share/dictd/devil.dict.dz | tail -n +4 | split -C 40k -d -a 2 - demo-data/prose.tmp/devil/
  # interleave the two sources in sorted path order: 000-kjv, 001-devil, 002-kjv, ...
  i=0; for f in demo-data/prose.tmp/kjv/*; do mv "$f" "demo-data/prose.tmp/$(printf %03d $((2 * i)))-kjv.txt"; i=$((i + 1)); done
  i=0; for f in demo-data/prose.tmp/devil/*; do mv "$f" "demo-data/prose.tmp/$(printf %03d $((2 * i + 1)))-devil.txt"; i=$((i + 1)); done
  rmdir demo-data/prose.tmp/kjv demo-data/prose.tmp/devil
  mv demo-data/prose.tmp demo-data/prose
fi
if [ -z "$(ls demo-data/code 2>/dev/null)" ]; then
  stdlib=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])")
  cp "$stdlib"/*.py demo-data/code/
fi
echo "demo data: $(du -sh demo-data/prose | cut -f1) of prose, $(ls demo-data/code | wc -l) Python files"
