//go:build !linux

package main

import "errors"

// pinToCPU needs sched_setaffinity as Linux has it.
func pinToCPU(int) error { return errors.ErrUnsupported }
