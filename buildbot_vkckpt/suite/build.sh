#!/bin/sh
# build.sh - compile the guest checkpoint suite with POSIX sh and a C compiler.
#
#   sh build.sh [-o BINDIR] [TEST...]
#
# Environment: CC (default cc), CFLAGS (default -O1 -g), LDFLAGS.  -Wall -Werror
# are always added: a warning is a build failure.  Builds every tests/*.c
# (or only the named TESTs) plus the runner's helper ckpt_util into BINDIR
# (default: bin next to this script).  Exit 0 when everything built, else 1
# after trying every program, naming each one that failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out="$here/bin"
if [ "${1:-}" = "-o" ]; then
	[ $# -ge 2 ] || { echo "usage: build.sh [-o BINDIR] [TEST...]" >&2; exit 2; }
	out=$2
	shift 2
fi
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O1 -g}
LDFLAGS=${LDFLAGS:-}
WARN="-Wall -Werror"
mkdir -p "$out" || exit 1

if [ $# -eq 0 ]; then
	set --
	for src in "$here"/tests/*.c; do
		name=$(basename "$src" .c)
		set -- "$@" "$name"
	done
fi

failed=""
lib="$here/lib/ckpt_test.c $here/lib/compat.c"
# shellcheck disable=SC2086 # word splitting of flag lists is intended
for name in "$@"; do
	src="$here/tests/$name.c"
	if [ ! -f "$src" ]; then
		echo "build.sh: no such test: $name" >&2
		failed="$failed $name"
		continue
	fi
	echo "cc $name"
	if ! $CC $CFLAGS $WARN -pthread -I"$here/lib" -o "$out/$name" "$src" $lib \
	    $LDFLAGS; then
		failed="$failed $name"
	fi
done
echo "cc ckpt_util"
# shellcheck disable=SC2086
$CC $CFLAGS $WARN -o "$out/ckpt_util" "$here/lib/ckpt_util.c" $LDFLAGS ||
	failed="$failed ckpt_util"

if [ -n "$failed" ]; then
	echo "build.sh: failed:$failed" >&2
	exit 1
fi
exit 0
