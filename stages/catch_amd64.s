#include "textflag.h"

// catchHandler is init's signal handler (rt_sigaction(2) with SA_SIGINFO,
// called as C: DI the signal, SI its siginfo_t, DX the context): it writes
// the signal's number, one byte, to catchFD.
TEXT ·catchHandler(SB),NOSPLIT|NOFRAME,$0
	SUBQ	$16, SP
	MOVB	DI, (SP)
	MOVL	·catchFD(SB), DI
	MOVQ	SP, SI
	MOVL	$1, DX
	MOVL	$1, AX // write(2)
	SYSCALL
	ADDQ	$16, SP
	RET

// catchFault is the handler of the fault signals (SIGSEGV, SIGBUS, ...):
// one that a process sent (si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL) is
// catchHandler's; a fault the kernel raised (si_code > 0) goes on to the
// Go runtime's handler, arguments untouched.
TEXT ·catchFault(SB),NOSPLIT|NOFRAME,$0
	MOVL	8(SI), AX
	CMPL	AX, $0
	JGT	fault
	JMP	·catchHandler(SB)
fault:
	MOVQ	·goHandler(SB), AX
	JMP	AX

// catchRestorer returns from the handler (SA_RESTORER).
TEXT ·catchRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVL	$15, AX // rt_sigreturn(2)
	SYSCALL
	INT	$3

// func catchPCs() (handler, fault, restorer uintptr)
TEXT ·catchPCs(SB),NOSPLIT,$0-24
	LEAQ	·catchHandler(SB), AX
	MOVQ	AX, handler+0(FP)
	LEAQ	·catchFault(SB), AX
	MOVQ	AX, fault+8(FP)
	LEAQ	·catchRestorer(SB), AX
	MOVQ	AX, restorer+16(FP)
	RET
