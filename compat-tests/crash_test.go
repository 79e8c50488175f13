package compattests

// Durability and recovery (ARCHITECTURE.md, "Durability promise"): the
// broker binary killed with SIGKILL again and again under load, at random
// moments, at the crash points of internal/fault, and with a simulated
// power loss after the kill, then restarted on the same data directory and
// port while the producers go on. A final read of every partition checks
// the ledger of acknowledged writes:
//
//	lost-write            an acks=all write is gone
//	inconsistent-offsets  a value (acks=all or acks=1) is at an offset other
//	                      than the one acknowledged
//	non-contiguous        an offset from log start to high watermark is
//	                      missing or repeated
//	log-start             the log start offset moved without retention, or
//	                      past what retention.bytes may remove (the
//	                      lost-write check skips what is below it)
//	lost-acks1-write      an acks=1 write is gone although the broker was
//	                      only killed (it was in the files, which a crash
//	                      of the process keeps; not checked after a power
//	                      loss)
//
// (and duplicate values, corrupt batches or values, and partitions that
// cannot be read, which a broken log can also show). The failure message
// counts each kind. STREAMHOUSE_SOAK=1 runs many more cycles;
// STREAMHOUSE_CRASH_SEED=n replays a run's random choices (load windows,
// crash points, power-loss cuts; not the timing).

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage/fs"
)

var crashTopics = []string{"durable-a", "durable-b"}

const crashPartitions = 4

// crashPlan is what one broker incarnation runs with and how it ends.
type crashPlan struct {
	env    []string
	flags  []string
	window time.Duration // load before the SIGKILL
	point  string        // the armed crash point, if any
	n      int           // ... fired the n-th time it is passed
}

// crashScenario is a durability test: cycles incarnations killed after
// their window, then one more that is read.
type crashScenario struct {
	bin       string
	cycles    int
	configs   map[string]string                         // topic configs
	plan      func(cycle int, rng *rand.Rand) crashPlan // for cycles 1..cycles-1; cycle 0 only creates the topics and runs
	powerLoss bool                                      // replay the fsync log after each kill
}

// TestCrashRecovery kills the broker with SIGKILL at random moments, 20
// times (100 with STREAMHOUSE_SOAK=1), while six acks=all producers and one
// acks=1 producer write to 2 topics of 4 partitions whose 1 MiB segments
// roll during the test. A process crash keeps what was written to the
// files, so nothing acknowledged (acks=all or acks=1) may be lost, and every
// value must be at the offset acknowledged. The broker's load window before
// each kill is random, from 0.2 to 3 s.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	cycles := 20
	if crashSoak() {
		cycles = 100
	}
	runCrashScenario(t, crashScenario{
		bin:     binary(t),
		cycles:  cycles,
		configs: map[string]string{"segment.bytes": "1048576"},
		plan: func(_ int, rng *rand.Rand) crashPlan {
			return crashPlan{window: crashWindow(rng)}
		},
	})
}

// TestCrashPowerLoss is TestCrashRecovery with a simulated power loss after
// each SIGKILL, 5 times (30 with STREAMHOUSE_SOAK=1). The binary, built with
// -tags faults, logs every fsync (STREAMHOUSE_SYNC_LOG, kept outside the
// data directory). After the kill every file under storage/ is cut back to
// its last synced size (0 if never fsynced), sometimes keeping a random part
// of the unsynced tail or zeros in its place, and every entry not in its
// directory's last synced listing is removed; metadata.db is left alone
// (SQLite fsyncs it itself). acks=all writes must all be there; acks=1
// writes may be lost, but never found at another offset. It runs once with
// each --sync-method (syncfs: a commit round of several files is one
// syncfs, which the model counts as an fsync of everything below storage/;
// the first incarnation runs with the default).
func TestCrashPowerLoss(t *testing.T) {
	t.Parallel()
	cycles := 5
	if crashSoak() {
		cycles = 30
	}
	for _, method := range []string{"fdatasync", "syncfs"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			if err := fs.SyncFSSupported(); method == "syncfs" && err != nil {
				t.Skip(err)
			}
			runCrashScenario(t, crashScenario{
				bin:    binaryFaults(t),
				cycles: cycles,
				// Segments also roll by age: 5 cycles whose windows
				// the seed draws short (1.8 s in all once) wrote under
				// 1 MiB (the smallest segment.bytes) to every
				// partition, and the test, which must see segments
				// roll, failed for want of data.
				configs: map[string]string{"segment.bytes": "1048576", "segment.ms": "400"},
				plan: func(_ int, rng *rand.Rand) crashPlan {
					return crashPlan{window: crashWindow(rng), flags: []string{"--sync-method=" + method}}
				},
				powerLoss: true,
			})
		})
	}
}

// crashPoints are the crash points of internal/fault, with how many times
// one may be passed before it fires (from 1 to max) and the flags that make
// the broker pass it at all.
var crashPoints = []struct {
	name  string
	max   int
	flags []string
}{
	{"append-before-sync", 50, nil},
	{"sync-before-ack", 50, nil},
	{"roll", 3, nil},
	{"checkpoint", 3, []string{"--log.flush.offset.checkpoint.interval.ms=200"}},
	{"retention", 3, []string{"--log.retention.check.interval.ms=200"}},
}

// TestCrashPoints has the broker (built with -tags faults) kill itself at
// each crash point of internal/fault in turn, the n-th time it passes it
// (STREAMHOUSE_CRASH_AT=name:n), twice per point (10 times per point with
// STREAMHOUSE_SOAK=1), under the same load as TestCrashRecovery. The topics
// keep 3 MiB per partition (retention.bytes) so that retention removes
// segments when it runs: the checks then start at each partition's log
// start offset. A crash point that is not reached within 3 s is not a
// failure: the broker is killed then as in TestCrashRecovery, and the test
// log says so.
func TestCrashPoints(t *testing.T) {
	t.Parallel()
	rounds := 2
	if crashSoak() {
		rounds = 10
	}
	runCrashScenario(t, crashScenario{
		bin:     binaryFaults(t),
		cycles:  1 + rounds*len(crashPoints),
		configs: map[string]string{"segment.bytes": "1048576", "retention.bytes": "3145728"},
		plan: func(cycle int, rng *rand.Rand) crashPlan {
			cp := crashPoints[(cycle-1)%len(crashPoints)]
			n := 1 + rng.IntN(cp.max)
			return crashPlan{
				env:    []string{fmt.Sprintf("STREAMHOUSE_CRASH_AT=%s:%d", cp.name, n)},
				flags:  cp.flags,
				window: 3 * time.Second,
				point:  cp.name,
				n:      n,
			}
		},
	})
}

// crashWindow is a random load window of 0.2 to 3 s.
func crashWindow(rng *rand.Rand) time.Duration {
	return 200*time.Millisecond + time.Duration(rng.Int64N(int64(2800*time.Millisecond)))
}

// crashSeed is STREAMHOUSE_CRASH_SEED, or a new seed.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("STREAMHOUSE_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STREAMHOUSE_CRASH_SEED=%q: %v", s, err)
		}
		return n
	}
	return rand.Uint64()
}

func runCrashScenario(t *testing.T, sc crashScenario) {
	began := time.Now()
	seed := crashSeed(t)
	t.Logf("seed %d (STREAMHOUSE_CRASH_SEED=%d replays the random choices)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	b := newCrashBroker(t, sc.bin)
	storageDir := filepath.Join(b.dir, "storage")
	syncDir := t.TempDir() // the fsync logs, outside the data directory
	durable, err := crashDurableNow(storageDir)
	if err != nil {
		t.Fatal(err)
	}

	var load *crashLoad
	desc := make([]string, sc.cycles+1) // what each incarnation did, for the failure message
	reached := map[string][2]int{}      // crash point: reached, armed
	refused := map[string]bool{}        // flags the broker does not take
	for c := 0; c <= sc.cycles; c++ {
		var plan crashPlan
		switch {
		case c == 0:
			plan = crashPlan{window: crashWindow(rng)}
		case c < sc.cycles:
			plan = sc.plan(c, rng)
		}
		env := plan.env
		syncLog := filepath.Join(syncDir, fmt.Sprintf("sync-%d.log", c))
		if sc.powerLoss && c < sc.cycles {
			env = append(env, "STREAMHOUSE_SYNC_LOG="+syncLog)
		}
		if load != nil {
			load.cycle.Store(int64(c))
		}
		b.cycle = c

		flags := slices.DeleteFunc(slices.Clone(plan.flags), func(f string) bool { return refused[f] })
		err := b.start(env, flags...)
		if err != nil && !errors.Is(err, errCrashedAtStart) && len(flags) > 0 {
			// Said once; the later cycles of this point run without them.
			t.Errorf("cycle %d: the broker does not start with %v: %v", c, flags, err)
			for _, f := range flags {
				refused[f] = true
			}
			err = b.start(env)
		}
		switch {
		case errors.Is(err, errCrashedAtStart):
			desc[c] = fmt.Sprintf("crash point %s:%d reached during startup", plan.point, plan.n)
			r := reached[plan.point]
			reached[plan.point] = [2]int{r[0] + 1, r[1] + 1}
		case err != nil:
			t.Fatalf("cycle %d: restart after %s: %v\nwarnings of earlier incarnations:\n%s", c, crashDescribe(desc, c-1), err, b.warnings(30))
		case c == 0:
			crashCreateTopics(t, b.addr, crashTopics, crashPartitions, sc.configs)
			load = crashStartLoad(t, b.addr, crashTopics, crashPartitions, seed)
		}
		if c == sc.cycles {
			break
		}

		if err == nil {
			exited, exitErr := b.runFor(plan.window)
			hit := plan.point != "" && strings.Contains(b.lastLogs(), "fault: crash point "+plan.point)
			switch {
			case hit:
				desc[c] = fmt.Sprintf("crash point %s:%d reached", plan.point, plan.n)
			case exited:
				desc[c] = fmt.Sprintf("exited by itself: %v", exitErr)
				t.Errorf("cycle %d: the broker exited by itself (%v) instead of being killed:\n%s", c, exitErr, tail(b.lastLogs(), 4000))
			case plan.point != "":
				desc[c] = fmt.Sprintf("crash point %s:%d not reached, killed after %v", plan.point, plan.n, plan.window)
			default:
				desc[c] = fmt.Sprintf("killed after %v", plan.window.Round(time.Millisecond))
			}
			if plan.point != "" {
				r := reached[plan.point]
				if hit {
					r[0]++
				}
				reached[plan.point] = [2]int{r[0], r[1] + 1}
			}
		}

		if sc.powerLoss {
			n, err := durable.apply(syncLog)
			if err != nil {
				t.Fatalf("cycle %d: %v", c, err)
			}
			rep, err := durable.powerLoss(storageDir, rng)
			if err != nil {
				t.Fatalf("cycle %d: power loss: %v", c, err)
			}
			desc[c] += fmt.Sprintf(", then a power loss took %d bytes", rep.bytes)
			t.Logf("cycle %d: %d fsyncs logged; power loss: %v", c, n, rep)
			if durable, err = crashDurableNow(storageDir); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The recovered broker must take writes from every producer before the
	// load stops and everything is read.
	if err := load.waitAcked(30 * time.Second); err != nil {
		t.Errorf("after the last restart: %v", err)
	}
	load.stop()
	acks, failed := load.ledger()
	retention, _ := strconv.ParseInt(sc.configs["retention.bytes"], 10, 64)
	segment, _ := strconv.ParseInt(sc.configs["segment.bytes"], 10, 64)
	v := crashCheck(t, b.addr, crashTopics, crashPartitions, acks, !sc.powerLoss, retention, segment, func(c int) string { return crashDescribe(desc, c) })
	segs, parts := crashSegments(b.dir)
	v.notes = append(v.notes, fmt.Sprintf("%d produces failed (not in the ledger); %d segment files in %d partitions at the end", failed, segs, parts))
	for _, cp := range crashPoints {
		if r, ok := reached[cp.name]; ok {
			v.notes = append(v.notes, fmt.Sprintf("crash point %s reached in %d of %d cycles", cp.name, r[0], r[1]))
			if r[0] < r[1] {
				t.Logf("crash point %s was not reached in %d of %d cycles (the broker was killed at the end of the window instead)", cp.name, r[1]-r[0], r[1])
			}
		}
	}
	for _, n := range v.notes[1:] {
		t.Log(n)
	}
	if v.failed() {
		t.Errorf("after %d cycles (seed %d): %s\nwarnings and errors logged by the broker:\n%s",
			sc.cycles, seed, v, b.warnings(30))
	}
	if segs <= parts {
		t.Errorf("no segment rolled in %d cycles (%d segment files in %d partitions): the test did not exercise rolls", sc.cycles, segs, parts)
	}
	b.p.stop()
	t.Logf("%d cycles in %v", sc.cycles, time.Since(began).Round(time.Millisecond))
}

// crashDescribe names cycle c, and what ended it, for a message.
func crashDescribe(desc []string, c int) string {
	if c < 0 || c >= len(desc) || desc[c] == "" {
		return fmt.Sprintf("cycle %d", c)
	}
	return fmt.Sprintf("cycle %d (%s)", c, desc[c])
}

// TestCrashPowerLossModel checks the power-loss simulation itself on a
// small tree, so that a failure of TestCrashPowerLoss is the broker's: what
// was fsynced (file sizes, directory entries, a file fsynced under a
// temporary name and renamed) survives byte for byte; what was not is cut
// back, kept in part or zeroed, or removed.
func TestCrashPowerLossModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(40) {
		root := filepath.Join(t.TempDir(), "storage")
		part := filepath.Join(root, "topic", "0")
		orphan := filepath.Join(root, "new-topic", "0")
		for _, d := range []string{part, orphan} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		content := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte('a' + i%26)
			}
			return b
		}
		write := func(p string, n int) {
			if err := os.WriteFile(p, content(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		seg, idx, cp := filepath.Join(part, "0.log"), filepath.Join(part, "0.index"), filepath.Join(part, "checkpoint")
		write(seg, 300)
		write(idx, 80)
		write(cp, 50)
		write(filepath.Join(part, "1.log"), 10) // created after the last dir fsync
		write(filepath.Join(orphan, "0.log"), 10)
		log := strings.Join([]string{
			"file " + seg + " 100",
			"file " + cp + ".tmp 50", // fsynced, then renamed to checkpoint
			"dir " + root + " topic",
			"dir " + filepath.Join(root, "topic") + " 0",
			"dir " + part + " 0.index 0.log checkpoint",
			"file " + seg + " 2", // torn by the kill
		}, "\n")
		syncLog := filepath.Join(t.TempDir(), "sync.log")
		if err := os.WriteFile(syncLog, []byte(log), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := crashDurableNow(filepath.Join(t.TempDir(), "missing"))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.apply(syncLog); err != nil || n != 5 {
			t.Fatalf("apply: %d lines, %v; want 5", n, err)
		}
		rep, err := s.powerLoss(root, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				got = append(got, rel)
			}
			return err
		})
		if want := []string{"topic/0/0.index", "topic/0/0.log", "topic/0/checkpoint"}; !slices.Equal(got, want) {
			t.Fatalf("seed %d: files %v after the power loss, want %v (%v)", seed, got, want, rep)
		}
		for _, c := range []struct {
			path      string
			synced    int
			size      int
			mayGrowTo int
		}{{seg, 100, 300, 300}, {idx, 0, 80, 80}, {cp, 50, 50, 50}} {
			b, err := os.ReadFile(c.path)
			if err != nil {
				t.Fatal(err)
			}
			full := content(c.size)
			if len(b) < c.synced || len(b) > c.mayGrowTo || !bytes.Equal(b[:c.synced], full[:c.synced]) {
				t.Fatalf("seed %d: %s: %d bytes after the power loss, want the %d synced ones intact and at most %d", seed, c.path, len(b), c.synced, c.mayGrowTo)
			}
			if tail := b[c.synced:]; !bytes.Equal(tail, full[c.synced:len(b)]) && !bytes.Equal(tail, make([]byte, len(tail))) {
				t.Fatalf("seed %d: %s: the unsynced part kept is neither the data written nor zeros", seed, c.path)
			}
		}
	}
}
