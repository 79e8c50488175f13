package main

import "syscall"

// childAttr puts a broker in its own process group, so that a Ctrl-C at
// the terminal reaches only streambench (which stops the run and then the
// broker), and has the kernel kill it should streambench die first.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
