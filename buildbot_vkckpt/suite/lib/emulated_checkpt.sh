#!/bin/sh
# emulated_checkpt.sh - stands in for checkpt(1) on Linux, for the fork
# emulation of compat.c (CKPT_EMULATE=fork).  Install it as "checkpt" on PATH.
#
#   checkpt -r FILE
#
# FILE holds "VKCKPT-EMULATED <pid> <thaw marker>", written by the emulated
# freeze.  Creating the marker wakes the parked child (the "image"); then this
# process lives as long as that child does, as checkpt's process would be the
# restored program.  Messages and exit codes follow checkpt(1).
if [ "${1:-}" != -r ] || [ -z "${2:-}" ]; then
	echo "usage: checkpt -r file.ckpt" >&2
	exit 1
fi
if ! read -r magic pid marker <"$2" 2>/dev/null; then
	echo "unable to open $2" >&2
	exit 1
fi
if [ "$magic" != VKCKPT-EMULATED ] || [ -z "$marker" ]; then
	echo "thaw failed error 22 Invalid argument" >&2
	exit 5
fi
: >"$marker"
while [ -d "/proc/$pid" ]; do
	# A zombie whose parent does not reap it counts as gone.
	state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)
	[ "$state" = Z ] && break
	sleep 0.01
done
exit 0
