package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseProc(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (stream) house) S 1 4242 4242 0 -1 4194560 12345 0 0 0 250 75 0 0 20 0 12 0 1000 123456789 5000 18446744073709551615\n"
	cpu, err := parseStatCPU([]byte(stat))
	if err != nil || cpu != 3.25 {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25 (325 ticks)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Fatal("a short stat line should fail")
	}
	status := "Name:\tstreamhouse\nVmPeak:\t 2000000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n"
	hwm, err := parseStatusHWM([]byte(status))
	if err != nil || hwm != 51200<<10 {
		t.Fatalf("parseStatusHWM = %d, %v; want %d", hwm, err, 51200<<10)
	}
	if _, err := parseStatusHWM([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("a status without VmHWM should fail")
	}

	// readProc over a fake /proc.
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644)
	os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644)
	st, err := readProc(root, 4242)
	if err != nil || st.cpuSeconds != 3.25 || st.peakRSSBytes != 51200<<10 {
		t.Fatalf("readProc = %+v, %v", st, err)
	}
	if _, err := readProc(root, 4243); err == nil || !strings.Contains(err.Error(), "no process 4243") {
		t.Fatalf("readProc of a missing process: %v", err)
	}
}

func TestReadOwnProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	st, err := readProc("/proc", os.Getpid())
	if err != nil || st.peakRSSBytes <= 0 || st.cpuSeconds < 0 {
		t.Fatalf("readProc(self) = %+v, %v", st, err)
	}
}
