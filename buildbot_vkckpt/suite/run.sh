#!/bin/sh
# run.sh - run the guest checkpoint suite (POSIX sh: DragonFly /bin/sh, dash).
#
# usage: run.sh [--nocr] [--iterations N] [--results DIR] [--tap FILE]
#               [--only NAME,...] [--list] [--bin DIR] [--timeout SECONDS]
#               [--keep-images] [--results-disk DEV] [--kernel-has FEATURE,...]
#               [--retries N]
#
# For each test: start it in its work dir RESULTS/NAME, wait for "ready";
# unless --nocr, N times: kill -34 (SIGCKPTEXIT, the file lands in the work dir
# via the default relative kern.ckptfile "%N.ckpt"), wait for the exit, move
# the file to images/I.ckpt, "checkpt -r" it, wait for "resumed.I"; then create
# "go" and collect "result" (PASS / FAIL: reason).  Writes TAP 13 to FILE
# (default RESULTS/results.tap) and to stdout; finally "tar cf DEV -C RESULTS ."
# when --results-disk is given.  A test whose meta has pass_with=FEATURE is
# expected to pass (not xfail) when FEATURE is among --kernel-has.
# --retries N: a test expected to pass that fails is run alone N more times
# (fresh work dir; the failed attempts' dirs kept as NAME.attemptK); its TAP
# line is the first attempt's, "attempts: fail pass pass" says the rest.
# Exit: 0 every expect=pass test passed, 1 some did not, 2 usage, 4 cannot run.
set -u

here=$(cd "$(dirname "$0")" && pwd)
nocr=0
iterations=1
results=./results
tap=""
only=""
list=0
bindir="$here/bin"
timeout_override=""
keep_images=0
disk=""
features=""
retries=0

usage() {
	sed -n '4,7p' "$here/run.sh" | sed 's/^# //' >&2
	exit 2
}

need_arg() {
	[ $# -ge 2 ] || { echo "run.sh: $1 needs a value" >&2; usage; }
}

while [ $# -gt 0 ]; do
	case $1 in
	--nocr) nocr=1 ;;
	--list) list=1 ;;
	--keep-images) keep_images=1 ;;
	--iterations) need_arg "$@"; iterations=$2; shift ;;
	--results) need_arg "$@"; results=$2; shift ;;
	--tap) need_arg "$@"; tap=$2; shift ;;
	--only) need_arg "$@"; only=$2; shift ;;
	--bin) need_arg "$@"; bindir=$2; shift ;;
	--timeout) need_arg "$@"; timeout_override=$2; shift ;;
	--results-disk) need_arg "$@"; disk=$2; shift ;;
	--kernel-has) need_arg "$@"; features="$features,$2"; shift ;;
	--retries) need_arg "$@"; retries=$2; shift ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done

is_count() {
	case $1 in ''|*[!0-9]*) return 1 ;; esac
	[ "$1" -ge 1 ]
}
is_count "$iterations" || { echo "run.sh: --iterations wants a positive number" >&2; usage; }
case $retries in ''|*[!0-9]*) echo "run.sh: --retries wants a number" >&2; usage ;; esac
[ -z "$timeout_override" ] || is_count "$timeout_override" ||
	{ echo "run.sh: --timeout wants whole seconds" >&2; usage; }

# meta_get FILE KEY: the value of the first KEY= line.
meta_get() {
	sed -n "s/^$2=//p" "$1" | head -n 1
}

# expect_of META: pass, or xfail unless the kernel has the meta's pass_with.
expect_of() {
	e=$(meta_get "$1" expect)
	pw=$(meta_get "$1" pass_with)
	if [ "$e" = xfail ] && [ -n "$pw" ]; then
		case ",$features," in *",$pw,"*) e=pass ;; esac
	fi
	printf '%s\n' "${e:-pass}"
}

# The selected tests, one name per line, in name order.
select_tests() {
	if [ -z "$only" ]; then
		for m in "$here"/tests/*.meta; do
			[ -f "$m" ] && basename "$m" .meta
		done
		return 0
	fi
	echo "$only" | tr ',' '\n' | while read -r n; do
		[ -n "$n" ] || continue
		if [ ! -f "$here/tests/$n.meta" ]; then
			echo "run.sh: unknown test: $n" >&2
			echo "!unknown"
		else
			echo "$n"
		fi
	done
}

tests=$(select_tests)
case $tests in *'!unknown'*) exit 2 ;; esac
[ -n "$tests" ] || { echo "run.sh: no tests selected" >&2; exit 2; }

if [ "$list" = 1 ]; then
	for t in $tests; do
		m="$here/tests/$t.meta"
		printf '%s\t%s\t%s\n' "$t" "$(expect_of "$m")" "$(meta_get "$m" description)"
	done
	exit 0
fi

mkdir -p "$results" || exit 4
results=$(cd "$results" && pwd)
[ -n "$tap" ] || tap="$results/results.tap"
: >"$tap" || exit 4

emit() {
	printf '%s\n' "$*" >>"$tap"
	printf '%s\n' "$*"
}

# save_results: the results (TAP included) onto the results disk, if one was
# given; also on a bail-out, so the host learns why the suite could not run.
save_results() {
	[ -n "$disk" ] || return 0
	tar cf "$disk" -C "$results" . || { echo "run.sh: cannot write results to $disk" >&2; exit 4; }
	sync
}

bail() {
	emit "Bail out! $*"
	save_results
	exit 4
}

ntests=$(echo "$tests" | wc -l | tr -d ' ')
if [ "$nocr" = 1 ]; then mode=nocr; restores=0; else mode=cr; restores=$iterations; fi
emit "TAP version 13"
emit "# vkckpt guest suite: mode=$mode iterations=$iterations tests=$ntests"
emit "1..$ntests"

util="$bindir/ckpt_util"
[ -x "$util" ] || bail "$util is missing: build the suite first (sh $here/build.sh)"
if [ "$nocr" = 0 ]; then
	command -v checkpt >/dev/null 2>&1 || bail "checkpt(1) not found on PATH"
	tpl=$(sysctl -n kern.ckptfile 2>/dev/null || true)
	case $tpl in
	/*) bail "kern.ckptfile=$tpl is absolute; the runner needs a template relative to the cwd (sysctl kern.ckptfile=%N.ckpt)" ;;
	esac
	ulimit -c unlimited 2>/dev/null || true
	[ "$(ulimit -c)" != 0 ] || bail "RLIMIT_CORE is 0: sys_checkpoint(2) would fail with ERANGE"
fi
# Read by every test program (ckpt_test.c): how many restores to expect.
CKPT_EXPECT_RESTORES=$restores
export CKPT_EXPECT_RESTORES

now() { "$util" now; }

# wait_for MS FILE...: print the first FILE to exist; fail after MS ms.
wait_for() { "$util" wait "$@"; }

# One test's state, reset by run_test.
w=""
inc=0
cycles=0
failure=""

note() { printf '%s %s\n' "$(now)" "$*" >>"$w/runner.log"; }
fail() { [ -n "$failure" ] || failure=$*; note "failure: $*"; }

# launch K COMMAND...: run an incarnation of the test in the work dir; its pid
# goes to pid.K and, once it is gone, its exit status to exit.K.
launch() {
	l_k=$1
	shift
	note "incarnation $l_k: $*"
	(
		cd "$w" || exit 1
		"$@" >>"$w/output.log" 2>&1 </dev/null &
		echo $! >"$w/pid.$l_k"
		wait $!
		echo $? >"$w/.exit.$l_k" && mv "$w/.exit.$l_k" "$w/exit.$l_k"
	) 2>>"$w/runner.log" &
}

exit_status() { cat "$w/exit.$1" 2>/dev/null || echo "?"; }

# The pid a test reported in FILE ("ready PID" / "resumed N PID").
reported_pid() { awk '{ print $NF; exit }' "$1"; }

# Kill whatever of this test is still running: incarnations without an exit
# status, and the process named by the newest ready/resumed file (under an
# emulation that need not be a child of ours).
kill_leftovers() {
	for p in "$w"/pid.*; do
		[ -f "$p" ] || continue
		[ -f "$w/exit.${p##*.}" ] && continue
		kill_pid "$(cat "$p")"
	done
	if [ ! -f "$w/result" ] || [ ! -f "$w/exit.$inc" ]; then
		last=""
		[ -f "$w/ready" ] && last="$w/ready"
		[ -f "$w/resumed.$cycles" ] && last="$w/resumed.$cycles"
		[ -z "$last" ] || kill_pid "$(reported_pid "$last")"
	fi
	wait 2>/dev/null
}

kill_pid() {
	case $1 in ''|*[!0-9]*) return 0 ;; esac
	if kill -0 "$1" 2>/dev/null; then
		note "killing leftover pid $1"
		kill -9 "$1" 2>/dev/null
	fi
}

# checkpoint_cycle I: checkpoint the running incarnation, restore it.
checkpoint_cycle() {
	c_i=$1
	note "cycle $c_i: kill -34 $pid"
	kill -34 "$pid" 2>/dev/null || { fail "cannot send SIGCKPTEXIT to pid $pid"; return 1; }
	wait_for "$to_ms" "$w/exit.$inc" >/dev/null ||
		{ fail "cycle $c_i: still running ${to}s after SIGCKPTEXIT"; return 1; }
	if [ -f "$w/result" ]; then
		fail "cycle $c_i: finished ($(head -n 1 "$w/result")) instead of being checkpointed"
		return 1
	fi
	img=""
	for f in "$w"/*.ckpt; do
		[ -f "$f" ] && { img=$f; break; }
	done
	[ -n "$img" ] || { fail "cycle $c_i: no checkpoint file after SIGCKPTEXIT (exit status $(exit_status "$inc"))"; return 1; }
	[ -s "$img" ] || { fail "cycle $c_i: checkpoint file $(basename "$img") is empty"; return 1; }
	# Rename, never copy or truncate: a restored program maps its image file.
	mv "$img" "$w/images/$c_i.ckpt"
	note "cycle $c_i: $(basename "$img") -> images/$c_i.ckpt ($(wc -c <"$w/images/$c_i.ckpt" | tr -d ' ') bytes)"
	inc=$((inc + 1))
	launch "$inc" checkpt -r "$w/images/$c_i.ckpt"
	found=$(wait_for "$to_ms" "$w/resumed.$c_i" "$w/exit.$inc") ||
		{ fail "cycle $c_i: not resumed ${to}s after checkpt -r"; return 1; }
	case $found in
	*/exit.$inc)
		fail "cycle $c_i: checkpt -r exited with status $(exit_status "$inc"): $(tail -n 1 "$w/output.log" 2>/dev/null)"
		return 1 ;;
	esac
	pid=$(reported_pid "$w/resumed.$c_i")
	return 0
}

# collect_result: say go, wait for the verdict and for the program to end.
collect_result() {
	: >"$w/go"
	found=$(wait_for "$to_ms" "$w/result" "$w/exit.$inc") ||
		{ fail "no result ${to}s after go"; return 1; }
	if [ ! -f "$w/result" ]; then
		fail "exited with status $(exit_status "$inc") without a result"
		return 1
	fi
	verdict=$(head -n 1 "$w/result")
	wait_for "$to_ms" "$w/exit.$inc" >/dev/null ||
		{ fail "did not exit ${to}s after reporting: $verdict"; return 1; }
	case $verdict in
	PASS) return 0 ;;
	FAIL:*) fail "$verdict"; return 1 ;;
	*) fail "unreadable result: $verdict"; return 1 ;;
	esac
}

# attempt_test NAME: one run of the test in a fresh work dir; sets failure,
# cycles and ms.
attempt_test() {
	name=$1
	meta="$here/tests/$name.meta"
	w="$results/$name"
	inc=0
	failure=""
	pid=""
	rm -rf "$w"
	mkdir -p "$w/images"
	to=${timeout_override:-$(meta_get "$meta" timeout)}
	is_count "$to" || to=30
	to_ms=$((to * 1000))
	expect=$(expect_of "$meta")
	t0=$(now)
	cycles=0

	if [ ! -x "$bindir/$name" ]; then
		fail "program $bindir/$name is missing"
	else
		launch 0 "$bindir/$name" -d "$w"
		found=$(wait_for "$to_ms" "$w/ready" "$w/exit.0") || fail "not ready within ${to}s"
		if [ -z "$failure" ]; then
			case $found in
			*/exit.0) fail "exited with status $(exit_status 0) before ready: $(tail -n 1 "$w/output.log" 2>/dev/null)" ;;
			*) pid=$(reported_pid "$w/ready") ;;
			esac
		fi
		if [ -z "$failure" ] && [ "$nocr" = 0 ]; then
			while [ "$cycles" -lt "$iterations" ]; do
				checkpoint_cycle $((cycles + 1)) || break
				cycles=$((cycles + 1))
			done
		fi
		[ -n "$failure" ] || collect_result
	fi
	kill_leftovers
	[ -n "$failure" ] || [ "$keep_images" = 1 ] || rm -rf "$w/images"
	ms=$(($(now) - t0))
}

run_test() {
	r_n=$1
	attempt_test "$2"
	attempts=""
	if [ -n "$failure" ] && [ "$expect" != xfail ] && [ "$retries" -gt 0 ]; then
		# a flake or a regression? the test alone again, the first verdict kept
		first_failure=$failure first_cycles=$cycles first_ms=$ms
		attempts=fail
		k=1
		while [ "$k" -le "$retries" ]; do
			rm -rf "$w.attempt$k"
			mv "$w" "$w.attempt$k"
			attempt_test "$name"
			if [ -n "$failure" ]; then attempts="$attempts fail"; else attempts="$attempts pass"; fi
			k=$((k + 1))
		done
		failure=$first_failure cycles=$first_cycles ms=$first_ms
	fi

	directive=""
	if [ "$expect" = xfail ]; then
		directive=" # TODO xfail: $(meta_get "$meta" reason | tr -d '#')"
	fi
	if [ -z "$failure" ]; then
		emit "ok $r_n - $name$directive"
		message=PASS
		npass=$((npass + 1))
	else
		emit "not ok $r_n - $name$directive"
		message=$failure
		[ "$expect" = xfail ] || nfail=$((nfail + 1))
	fi
	quoted=$(printf '%s' "$message" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
	emit "  ---"
	emit "  message: \"$quoted\""
	emit "  expect: ${expect:-pass}"
	emit "  mode: $mode"
	emit "  cycles: $cycles"
	emit "  duration_ms: $ms"
	[ -z "$attempts" ] || emit "  attempts: $attempts"
	emit "  ..."
}

on_signal() {
	[ -z "$w" ] || kill_leftovers
	emit "Bail out! interrupted"
	save_results
	exit 4
}
trap on_signal INT TERM HUP

npass=0
nfail=0
n=0
for t in $tests; do
	n=$((n + 1))
	run_test "$n" "$t"
done
emit "# $npass of $ntests ok; $nfail unexpected failures"

save_results
[ "$nfail" = 0 ]
