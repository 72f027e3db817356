#include "textflag.h"

// catchHandler is init's signal handler (rt_sigaction(2) with SA_SIGINFO,
// called as C: R0 the signal, R1 its siginfo_t, R2 the context): it writes
// the signal's number, one byte, to catchFD.
TEXT ·catchHandler(SB),NOSPLIT|NOFRAME,$0
	SUB	$16, RSP
	MOVB	R0, (RSP)
	MOVWU	·catchFD(SB), R0
	MOVD	RSP, R1
	MOVD	$1, R2
	MOVD	$64, R8 // write(2)
	SVC
	ADD	$16, RSP
	RET

// catchFault is the handler of the fault signals (SIGSEGV, SIGBUS, ...):
// one that a process sent (si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL) is
// catchHandler's; a fault the kernel raised (si_code > 0) goes on to the
// Go runtime's handler, arguments untouched.
TEXT ·catchFault(SB),NOSPLIT|NOFRAME,$0
	MOVW	8(R1), R3
	CMP	$0, R3
	BGT	fault
	JMP	·catchHandler(SB)
fault:
	MOVD	·goHandler(SB), R3
	JMP	(R3)

// catchRestorer returns from the handler (SA_RESTORER).
TEXT ·catchRestorer(SB),NOSPLIT|NOFRAME,$0
	MOVD	$139, R8 // rt_sigreturn(2)
	SVC

// func catchPCs() (handler, fault, restorer uintptr)
TEXT ·catchPCs(SB),NOSPLIT,$0-24
	MOVD	$·catchHandler(SB), R0
	MOVD	R0, handler+0(FP)
	MOVD	$·catchFault(SB), R0
	MOVD	R0, fault+8(FP)
	MOVD	$·catchRestorer(SB), R0
	MOVD	R0, restorer+16(FP)
	RET
