//go:build !unix && !js

package wsio

// processCPU is not measured off Unix; cpu-ns/op then reads 0.
func processCPU() int64 { return 0 }
