#!/usr/bin/env bash
# The cvmweb test guest is built by the @cvmweb/test-guest kit (packages/test-guest); this wrapper
# keeps the old path working. Prints the output directory on stdout.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../packages/test-guest/guest/build-test-guest.sh" "$@"
