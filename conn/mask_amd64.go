package conn

// maskBlocks XORs blocks*64 bytes from src into dst with the 8-byte
// pattern k repeated, 64 bytes per step in SSE2 registers (mask_amd64.s);
// dst may be src.
//
//go:noescape
func maskBlocks(dst, src *byte, blocks int, k uint64)

const haveMaskBlocks = true
