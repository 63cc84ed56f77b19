/*
 * fpu: FPU/SSE register state.  The values live only in registers (xmm0-15,
 * MXCSR, the x87 control word) while the program waits inside one asm block
 * that polls with raw system calls, so the checkpoint must save and restore
 * the registers themselves, not memory the compiler spilled them to.
 */
#include "ckpt_test.h"

#include <sys/syscall.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)

#define NXMM 16
#define WANT_MXCSR 0xFF80u	/* all exceptions masked, round toward zero, FTZ */
#define WANT_FCW 0x087Fu	/* x87: single precision, round up */

struct fp_args {
	const char *go_path;
	long pid;
	struct timespec *nap;
	uint64_t *want;
	uint64_t *got;
	long result;		/* 1: pid changed (restored), 2: go */
	uint32_t want_mxcsr, got_mxcsr, saved_mxcsr;
	uint16_t want_fcw, got_fcw, saved_fcw;
};

static uint64_t want[NXMM * 2], got[NXMM * 2];

#define OFF(f) "i"(offsetof(struct fp_args, f))

/* Load the state, poll (getpid, access, nanosleep) until told, store the state. */
static void
hold_registers(struct fp_args *a)
{
	__asm__ volatile(
	    "stmxcsr %c[smx](%%rbx)\n\t"
	    "fnstcw %c[sfcw](%%rbx)\n\t"
	    "ldmxcsr %c[wmx](%%rbx)\n\t"
	    "fldcw %c[wfcw](%%rbx)\n\t"
	    "mov %c[want](%%rbx), %%rax\n\t"
	    "movdqu 0(%%rax), %%xmm0\n\t"   "movdqu 16(%%rax), %%xmm1\n\t"
	    "movdqu 32(%%rax), %%xmm2\n\t"  "movdqu 48(%%rax), %%xmm3\n\t"
	    "movdqu 64(%%rax), %%xmm4\n\t"  "movdqu 80(%%rax), %%xmm5\n\t"
	    "movdqu 96(%%rax), %%xmm6\n\t"  "movdqu 112(%%rax), %%xmm7\n\t"
	    "movdqu 128(%%rax), %%xmm8\n\t" "movdqu 144(%%rax), %%xmm9\n\t"
	    "movdqu 160(%%rax), %%xmm10\n\t" "movdqu 176(%%rax), %%xmm11\n\t"
	    "movdqu 192(%%rax), %%xmm12\n\t" "movdqu 208(%%rax), %%xmm13\n\t"
	    "movdqu 224(%%rax), %%xmm14\n\t" "movdqu 240(%%rax), %%xmm15\n\t"
	    "1:\n\t"
	    "mov %[nr_getpid], %%eax\n\t"
	    "syscall\n\t"
	    "cmp %c[pid](%%rbx), %%rax\n\t"
	    "jne 2f\n\t"
	    "mov %[nr_access], %%eax\n\t"
	    "mov %c[path](%%rbx), %%rdi\n\t"
	    "xor %%esi, %%esi\n\t"
	    "syscall\n\t"
	    "test %%rax, %%rax\n\t"
	    "jz 3f\n\t"
	    "mov %[nr_nanosleep], %%eax\n\t"
	    "mov %c[nap](%%rbx), %%rdi\n\t"
	    "xor %%esi, %%esi\n\t"
	    "syscall\n\t"
	    "jmp 1b\n\t"
	    "2:\n\t"
	    "movq $1, %c[res](%%rbx)\n\t"
	    "jmp 4f\n\t"
	    "3:\n\t"
	    "movq $2, %c[res](%%rbx)\n\t"
	    "4:\n\t"
	    "mov %c[got](%%rbx), %%rax\n\t"
	    "movdqu %%xmm0, 0(%%rax)\n\t"   "movdqu %%xmm1, 16(%%rax)\n\t"
	    "movdqu %%xmm2, 32(%%rax)\n\t"  "movdqu %%xmm3, 48(%%rax)\n\t"
	    "movdqu %%xmm4, 64(%%rax)\n\t"  "movdqu %%xmm5, 80(%%rax)\n\t"
	    "movdqu %%xmm6, 96(%%rax)\n\t"  "movdqu %%xmm7, 112(%%rax)\n\t"
	    "movdqu %%xmm8, 128(%%rax)\n\t" "movdqu %%xmm9, 144(%%rax)\n\t"
	    "movdqu %%xmm10, 160(%%rax)\n\t" "movdqu %%xmm11, 176(%%rax)\n\t"
	    "movdqu %%xmm12, 192(%%rax)\n\t" "movdqu %%xmm13, 208(%%rax)\n\t"
	    "movdqu %%xmm14, 224(%%rax)\n\t" "movdqu %%xmm15, 240(%%rax)\n\t"
	    "stmxcsr %c[gmx](%%rbx)\n\t"
	    "fnstcw %c[gfcw](%%rbx)\n\t"
	    "ldmxcsr %c[smx](%%rbx)\n\t"
	    "fldcw %c[sfcw](%%rbx)\n\t"
	    :
	    : "b"(a), [nr_getpid] "i"(SYS_getpid), [nr_access] "i"(SYS_access),
	      [nr_nanosleep] "i"(SYS_nanosleep),
	      [path] OFF(go_path), [pid] OFF(pid), [nap] OFF(nap), [want] OFF(want),
	      [got] OFF(got), [res] OFF(result), [wmx] OFF(want_mxcsr),
	      [gmx] OFF(got_mxcsr), [smx] OFF(saved_mxcsr), [wfcw] OFF(want_fcw),
	      [gfcw] OFF(got_fcw), [sfcw] OFF(saved_fcw)
	    : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc",
	      "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
	      "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static void
corrupt(void)
{
	want[5] ^= 1;
}

static int
compare(const struct fp_args *a)
{
	int i;

	for (i = 0; i < NXMM * 2; i++)
		if (got[i] != want[i])
			return ckpt_fail("xmm%d %s half is %#llx, expected %#llx", i / 2,
			    i % 2 ? "high" : "low", (unsigned long long)got[i],
			    (unsigned long long)want[i]);
	if (a->got_mxcsr != a->want_mxcsr)
		return ckpt_fail("MXCSR is %#x, expected %#x", a->got_mxcsr, a->want_mxcsr);
	if (a->got_fcw != a->want_fcw)
		return ckpt_fail("x87 control word is %#x, expected %#x", a->got_fcw,
		    a->want_fcw);
	return 0;
}

int
main(int argc, char **argv)
{
	struct timespec nap = { 0, 5 * 1000000L };
	struct fp_args a;
	int i, done;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	for (i = 0; i < NXMM * 2; i++)
		want[i] = 0x0123456789ABCDEFull * (uint64_t)(i + 1) ^ 0xA5A5A5A5A5A5A5A5ull;
	memset(&a, 0, sizeof(a));
	a.go_path = ckpt_path("go");
	a.nap = &nap;
	a.want = want;
	a.got = got;
	a.want_mxcsr = WANT_MXCSR;
	a.want_fcw = WANT_FCW;

	ckpt_ready();
	do {
		a.pid = (long)getpid();
		a.result = 0;
		hold_registers(&a);
		done = ckpt_poll();	/* records the restore when the pid changed */
		if (done)
			ckpt_apply_fault();
		if (compare(&a))
			return 1;
	} while (!done);
	return ckpt_pass();
}

#else /* not x86_64: the C-visible part of the floating-point state */

#include <fenv.h>

static volatile double values[8];

static void
corrupt(void)
{
	values[3] += 1.0;
}

int
main(int argc, char **argv)
{
	int i;

	ckpt_test_init(argc, argv);
	ckpt_on_fault(corrupt);
	if (fesetround(FE_TOWARDZERO) != 0)
		return ckpt_fail("fesetround failed");
	for (i = 0; i < 8; i++)
		values[i] = 1.0 / (i + 3);
	ckpt_ready();
	ckpt_wait(NULL, NULL);
	if (fegetround() != FE_TOWARDZERO)
		return ckpt_fail("rounding mode changed");
	for (i = 0; i < 8; i++)
		if (values[i] != 1.0 / (i + 3))
			return ckpt_fail("value %d changed", i);
	return ckpt_pass();
}

#endif
