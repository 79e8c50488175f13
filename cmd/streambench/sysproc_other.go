//go:build !linux

package main

import "syscall"

// childAttr: the defaults (see sysproc_linux.go for what Linux adds).
func childAttr() *syscall.SysProcAttr { return nil }
