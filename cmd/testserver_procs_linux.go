package cmd

import "syscall"

// childProcAttr makes the kernel kill a --procs server process when the
// supervisor dies, however it dies, so that none is left holding the port.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
