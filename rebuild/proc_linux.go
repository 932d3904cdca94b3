package rebuild

import "syscall"

// parentDeathSignal makes the kernel kill the tool when the process that
// started it dies, even by SIGKILL. What the tool started itself is left
// to CleanScratch.
func parentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
