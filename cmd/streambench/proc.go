package main

// --pid: the broker's CPU time (user + system, from /proc/PID/stat) and
// peak resident set (VmHWM, from /proc/PID/status). Linux only.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSupported reports whether --pid can be honoured here.
func procSupported() bool { return runtime.GOOS == "linux" }

// procStats is a process's resource use at one moment.
type procStats struct {
	cpuSeconds   float64 // user + system time so far
	peakRSSBytes int64   // VmHWM: the largest resident set so far
}

// readProc reads the stats of process pid under root (/proc).
func readProc(root string, pid int) (procStats, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return procStats{}, fmt.Errorf("no process %d", pid)
		}
		return procStats{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procStats{}, fmt.Errorf("%s: %w", filepath.Join(dir, "stat"), err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return procStats{}, err
	}
	hwm, err := parseStatusHWM(status)
	if err != nil {
		return procStats{}, fmt.Errorf("%s: %w", filepath.Join(dir, "status"), err)
	}
	return procStats{cpuSeconds: cpu, peakRSSBytes: hwm}, nil
}

// parseStatCPU is utime + stime of /proc/PID/stat, in seconds. The
// command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(f), stime)
	}
	u, err1 := strconv.ParseUint(f[utime], 10, 64)
	s, err2 := strconv.ParseUint(f[stime], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(u+s) / clockTicks, nil
}

// parseStatusHWM is the VmHWM line of /proc/PID/status ("VmHWM:  1234
// kB"), in bytes.
func parseStatusHWM(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmHWM: unexpected %q", strings.TrimSpace(v))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmHWM line (a kernel thread, or a zombie?)")
}
