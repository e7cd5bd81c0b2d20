#!/bin/sh
# A fake enclave-engine for tst_engine_process: answers `serve --help` like the real one (so the
# supervisor accepts it) and otherwise dies at once, before ever printing its ready line.
if [ "$2" = "--help" ]; then
  echo "  --state-dir DIR     state"
  echo "  --socket PATH       socket"
  exit 0
fi
echo "fake engine: failing on purpose" >&2
exit 3
