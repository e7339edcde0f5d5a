#include "textflag.h"

// func maskBlocks(dst, src *byte, blocks int, k uint64)
// XORs blocks*64 bytes from src into dst with the 8-byte pattern k
// repeated; dst may be src. SSE2 only, which every amd64 has.
TEXT ·maskBlocks(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ k+24(FP), X0
	PUNPCKLQDQ X0, X0
	TESTQ CX, CX
	JZ done
loop:
	MOVOU 0(SI), X1
	MOVOU 16(SI), X2
	MOVOU 32(SI), X3
	MOVOU 48(SI), X4
	PXOR X0, X1
	PXOR X0, X2
	PXOR X0, X3
	PXOR X0, X4
	MOVOU X1, 0(DI)
	MOVOU X2, 16(DI)
	MOVOU X3, 32(DI)
	MOVOU X4, 48(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
done:
	RET
