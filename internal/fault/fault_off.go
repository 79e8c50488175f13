//go:build !faults

package fault

// Enabled reports whether the binary was built with the faults tag.
const Enabled = false

// Crash is a crash point; see the package comment.
func Crash(name string) {}

// Syncing is called just before path (a file, or a directory when dir is
// set) is fsynced; the function it returns is called once the fsync
// succeeded.
func Syncing(path string, dir bool) func() { return nop }

// SyncingTree is Syncing for every file and directory below root (root
// included), before a syncfs of its file system.
func SyncingTree(root string) func() { return nop }

func nop() {}
