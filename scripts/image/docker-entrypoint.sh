#!/bin/sh
# The official node image's entrypoint convention: a first argument that is an option (-e,
# --version) or not a command on PATH (app.js) is run with node; anything else runs as given.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
