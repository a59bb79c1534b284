package cmd

import "syscall"

// childProcAttr makes the kernel kill a --procs server process when the
// supervisor dies, however it dies, so that none is left holding the port.
// Each child has a process group of its own, so that Ctrl-C on the
// terminal reaches only the supervisor, which stops the children
// gracefully: reaching them too, its own interrupt came second and killed
// a child whose handler had already gone back to the default.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
