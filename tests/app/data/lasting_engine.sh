#!/bin/sh
# A fake enclave-engine for tst_engine_process: answers `serve --help` like the real one, otherwise writes
# its pid to engine.pid in its working directory (the state directory) and stays up, never ready, until
# a signal ends it. `exec` keeps the pid (and the parent-death signal) of the process the console started.
if [ "$2" = "--help" ]; then
  echo "  --state-dir DIR     state"
  echo "  --socket PATH       socket"
  exit 0
fi
echo $$ > engine.pid
exec sleep 120
