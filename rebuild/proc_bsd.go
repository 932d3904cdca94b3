//go:build unix && !linux

package rebuild

import "syscall"

func parentDeathSignal(*syscall.SysProcAttr) {}
