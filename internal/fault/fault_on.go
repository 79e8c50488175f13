//go:build faults

package fault

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether the binary was built with the faults tag.
const Enabled = true

var (
	crashName  string
	crashCount int

	mu      sync.Mutex
	hits    int
	syncLog *os.File
)

func init() {
	if v := os.Getenv("STREAMHOUSE_CRASH_AT"); v != "" {
		name, n, ok := strings.Cut(v, ":")
		crashName, crashCount = name, 1
		if ok {
			c, err := strconv.Atoi(n)
			if err != nil || c < 1 {
				panic(fmt.Sprintf("fault: STREAMHOUSE_CRASH_AT=%q: want name[:n] with n >= 1", v))
			}
			crashCount = c
		}
	}
	if p := os.Getenv("STREAMHOUSE_SYNC_LOG"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			panic(fmt.Sprintf("fault: STREAMHOUSE_SYNC_LOG: %v", err))
		}
		syncLog = f
	}
}

// Crash is a crash point; see the package comment.
func Crash(name string) {
	if name != crashName {
		return
	}
	mu.Lock()
	hits++
	n := hits
	mu.Unlock()
	if n == crashCount {
		fmt.Fprintf(os.Stderr, "fault: crash point %s reached (hit %d): SIGKILL\n", name, n)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// Syncing is called just before path (a file, or a directory when dir is
// set) is fsynced; the function it returns is called once the fsync
// succeeded. What is recorded is taken before the fsync: a write or entry
// that lands during it may or may not be covered, so it counts as not.
func Syncing(path string, dir bool) func() {
	if syncLog == nil {
		return func() {}
	}
	abs, _ := filepath.Abs(path)
	var line string
	if dir {
		entries, err := os.ReadDir(abs)
		if err != nil {
			return func() {}
		}
		var b strings.Builder
		b.WriteString("dir ")
		b.WriteString(abs)
		for _, e := range entries {
			b.WriteByte(' ')
			b.WriteString(e.Name())
		}
		b.WriteByte('\n')
		line = b.String()
	} else {
		fi, err := os.Stat(abs)
		if err != nil {
			return func() {}
		}
		line = fmt.Sprintf("file %s %d\n", abs, fi.Size())
	}
	return func() {
		mu.Lock()
		defer mu.Unlock()
		syncLog.WriteString(line)
	}
}

// SyncingTree is Syncing for every file and directory below root (root
// included), before a syncfs of its file system: once it succeeded, all of
// them are recorded as fsynced as they were when it began.
func SyncingTree(root string) func() {
	if syncLog == nil {
		return func() {}
	}
	var dones []func()
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile: nothing to record
		}
		dones = append(dones, Syncing(path, d.IsDir()))
		return nil
	})
	return func() {
		for _, done := range dones {
			done()
		}
	}
}
