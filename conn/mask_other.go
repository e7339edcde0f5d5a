//go:build !amd64

package conn

// maskBlocks exists only on amd64; elsewhere the Go loops do all the work.
func maskBlocks(dst, src *byte, blocks int, k uint64) {}

const haveMaskBlocks = false
