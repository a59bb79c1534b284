//go:build !linux

package cmd

import "syscall"

// childProcAttr is nil here: --procs is refused off Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }
