package fs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// smallCfg makes several segments and many index entries out of little
// data.
var smallCfg = storage.LogConfig{SegmentBytes: 4000, IndexIntervalBytes: 300}

// lastSegment returns the path of the partition's highest segment.
func (f *fixture) lastSegment(p storage.Partition) string {
	f.t.Helper()
	logs := f.files(p, extLog)
	return filepath.Join(f.partDir(p), logs[len(logs)-1])
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func appendToFile(t *testing.T, path string, b []byte) {
	t.Helper()
	fl, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeIndexFiles removes every index file of p, as after a crash before
// the active segment's were written (and a loss of the others).
// dropCheckpoint makes a closed log look as if its process crashed before
// it ever wrote a checkpoint: recovery may then cut anywhere.
func (f *fixture) dropCheckpoint(p storage.Partition) {
	f.t.Helper()
	if err := os.Remove(filepath.Join(f.partDir(p), checkpointName)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) removeIndexFiles(p storage.Partition, onlyLast bool) {
	f.t.Helper()
	for _, ext := range []string{extIndex, extTimeIndex} {
		names := f.files(p, ext)
		if onlyLast {
			names = names[len(names)-1:]
		}
		for _, name := range names {
			if err := os.Remove(filepath.Join(f.partDir(p), name)); err != nil {
				f.t.Fatal(err)
			}
		}
	}
}

func TestRecoverTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// damage changes the last segment, whose last batch (last bytes)
		// starts at lastPos, and says whether that batch survives.
		damage func(t *testing.T, path string, lastPos, last int64) (keepLast bool)
	}{
		{"CutOneByte", func(t *testing.T, path string, lastPos, last int64) bool {
			return false || os.Truncate(path, lastPos+last-1) != nil
		}},
		{"CutInHeader", func(t *testing.T, path string, lastPos, last int64) bool {
			return os.Truncate(path, lastPos+30) != nil
		}},
		{"CutToLengthField", func(t *testing.T, path string, lastPos, last int64) bool {
			return os.Truncate(path, lastPos+10) != nil
		}},
		{"TrailingZeros", func(t *testing.T, path string, lastPos, last int64) bool {
			appendToFile(t, path, make([]byte, 4096))
			return true
		}},
		{"TrailingGarbage", func(t *testing.T, path string, lastPos, last int64) bool {
			appendToFile(t, path, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 7}, 50))
			return true
		}},
		{"TrailingHalfBatch", func(t *testing.T, path string, lastPos, last int64) bool {
			b := storagetest.MakeBatch(3, 400, 1)
			appendToFile(t, path, b[:len(b)/2])
			return true
		}},
		{"FlippedBitInRecords", func(t *testing.T, path string, lastPos, last int64) bool {
			flipByte(t, path, lastPos+last-5)
			return false
		}},
		{"FlippedBitInCRC", func(t *testing.T, path string, lastPos, last int64) bool {
			flipByte(t, path, lastPos+18)
			return false
		}},
		{"FlippedMagic", func(t *testing.T, path string, lastPos, last int64) bool {
			flipByte(t, path, lastPos+16)
			return false
		}},
	} {
		for _, mode := range []string{"Crash", "CrashNoIndexFiles", "CleanClose"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				p := storage.Partition{Topic: "t"}
				l := f.open(p, smallCfg)
				all := appendN(t, l, 40, seq)
				lastBase := l.NextOffset() - 1 - int64((len(all)-1)%3) // appendN's record counts
				mustClose(t, l)
				if mode != "CleanClose" {
					f.dropCheckpoint(p)
				}
				if mode == "CrashNoIndexFiles" {
					f.removeIndexFiles(p, true)
				}
				path := f.lastSegment(p)
				last := int64(len(all[len(all)-1]))
				lastPos := fileSize(t, path) - last
				want := all
				if !tc.damage(t, path, lastPos, last) {
					want = all[:len(all)-1]
					if mode == "CleanClose" {
						// Below the recovery point: media corruption,
						// never cut off.
						f.newStore()
						size := fileSize(t, path)
						_, err := f.st.Open(t.Context(), p, smallCfg)
						if !errors.Is(err, storage.ErrCorrupt) {
							t.Fatalf("open after damage below the checkpoint: %v, want ErrCorrupt", err)
						}
						if got := fileSize(t, path); got != size {
							t.Fatalf("open cut the segment from %d to %d bytes", size, got)
						}
						return
					}
				}

				f.newStore()
				l = f.open(p, smallCfg)
				equalBatches(t, readLog(t, l), want)
				wantNext := lastBase
				if len(want) == len(all) {
					wantNext = lastBase + int64(len(all)-1)%3 + 1
				}
				if l.NextOffset() != wantNext || l.HighWatermark() != wantNext {
					t.Fatalf("NextOffset %d, HW %d after recovery; want %d", l.NextOffset(), l.HighWatermark(), wantNext)
				}
				end := lastPos
				if len(want) == len(all) {
					end += last
				}
				if got := fileSize(t, path); got != end {
					t.Fatalf("segment is %d bytes after recovery, want %d", got, end)
				}
				if !strings.Contains(f.logged(), "truncating") {
					t.Errorf("no warning logged; log:\n%s", f.logged())
				}
				// The log goes on from there, and survives another reopen
				// with nothing more to cut.
				more := appendN(t, l, 5, seq)
				want = append(want, more...)
				mustClose(t, l)
				f.newStore()
				f.resetLogs()
				l = f.open(p, smallCfg)
				equalBatches(t, readLog(t, l), want)
				if strings.Contains(f.logged(), "truncating") {
					t.Errorf("second recovery truncated again:\n%s", f.logged())
				}
				mustClose(t, l)
			})
		}
	}
}

func TestRecoverTornClosedSegment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cut  func(size int64, batchEnds []int64) int64 // new size of segment 1
		keep func(batchEnds []int64) int               // batches of segment 1 kept
	}{
		{"MidBatch", func(size int64, ends []int64) int64 { return ends[2] + 7 }, func([]int64) int { return 3 }},
		{"AtBatchBoundary", func(size int64, ends []int64) int64 { return ends[2] }, func([]int64) int { return 3 }},
		{"Empty", func(int64, []int64) int64 { return 0 }, func([]int64) int { return 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			p := storage.Partition{Topic: "t"}
			cfg := storage.LogConfig{SegmentBytes: 5000, IndexIntervalBytes: 200}
			l := f.open(p, cfg)
			all := appendN(t, l, 40, seq)
			// Which batches are in segment 1 (the second)?
			segs := f.files(p, extLog)
			if len(segs) < 4 {
				t.Fatalf("want 4 or more segments, have %v", segs)
			}
			base1, _, _ := parseSegmentName(segs[1])
			base2, _, _ := parseSegmentName(segs[2])
			var in1 [][]byte
			var ends []int64
			var before int
			var pos int64
			for _, b := range all {
				h := mustHeader(t, b)
				switch {
				case h.BaseOffset < base1:
					before++
				case h.BaseOffset < base2:
					in1 = append(in1, b)
					pos += int64(len(b))
					ends = append(ends, pos)
				}
			}
			mustClose(t, l)
			f.dropCheckpoint(p)
			path := filepath.Join(f.partDir(p), segs[1])
			if err := os.Truncate(path, tc.cut(fileSize(t, path), ends)); err != nil {
				t.Fatal(err)
			}

			f.newStore()
			l = f.open(p, cfg)
			want := append(all[:before:before], in1[:tc.keep(ends)]...)
			equalBatches(t, readLog(t, l), want)
			if got := f.files(p, extLog); len(got) != 2 {
				t.Fatalf("segments after recovery %v, want the first two", got)
			}
			more := appendN(t, l, 30, seq)
			mustClose(t, l)
			l = f.open(p, cfg)
			equalBatches(t, readLog(t, l), append(want, more...))
			mustClose(t, l)
		})
	}
}

func TestRecoverRefusesCorruption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, f *fixture, p storage.Partition, segs []string)
	}{
		{"OverlappingSegments", func(t *testing.T, f *fixture, p storage.Partition, segs []string) {
			// Rename segment 2 to a base inside segment 1.
			base, _, _ := parseSegmentName(segs[2])
			from := filepath.Join(f.partDir(p), segs[2])
			to := filepath.Join(f.partDir(p), segmentName(base-1, extLog))
			if err := os.Rename(from, to); err != nil {
				t.Fatal(err)
			}
		}},
		{"OffsetGapInSegment", func(t *testing.T, f *fixture, p storage.Partition, segs []string) {
			// The base offset is not covered by the CRC: a batch that
			// checks but does not follow its predecessor.
			path := filepath.Join(f.partDir(p), segs[0])
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h := mustHeader(t, b)
			b[h.Size()+7] += 3
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			f.removeIndexFiles(p, false)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			p := storage.Partition{Topic: "t"}
			l := f.open(p, smallCfg)
			appendN(t, l, 40, seq)
			mustClose(t, l)
			segs := f.files(p, extLog)
			tc.damage(t, f, p, segs)
			before := snapshot(t, f.partDir(p))
			f.newStore()
			if _, err := f.st.Open(t.Context(), p, smallCfg); !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			if after := snapshot(t, f.partDir(p)); !equalSnapshots(before, after) {
				t.Fatal("a refused open changed the files")
			}
			// The failed open released the partition.
			if _, err := f.st.Open(t.Context(), p, smallCfg); !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("second Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

// snapshot reads every segment file of a directory.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), extLog) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func equalSnapshots(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// indexFiles reads every index and time index file of p.
func (f *fixture) indexFiles(p storage.Partition) map[string][]byte {
	f.t.Helper()
	out := make(map[string][]byte)
	for _, ext := range []string{extIndex, extTimeIndex} {
		for _, name := range f.files(p, ext) {
			b, err := os.ReadFile(filepath.Join(f.partDir(p), name))
			if err != nil {
				f.t.Fatal(err)
			}
			out[name] = b
		}
	}
	return out
}

// checkTimestamps compares FindTimestamp and MaxTimestamp with a brute
// force answer over all.
func checkTimestamps(t *testing.T, l storage.Log, all [][]byte) {
	t.Helper()
	maxAt := 0
	for i, b := range all {
		if mustHeader(t, b).MaxTimestamp > mustHeader(t, all[maxAt]).MaxTimestamp {
			maxAt = i
		}
	}
	got, err := l.MaxTimestamp(t.Context(), nil)
	if err != nil || !bytes.Equal(got, all[maxAt]) {
		t.Fatalf("MaxTimestamp: %d bytes, %v; want batch %d", len(got), err, maxAt)
	}
	for _, b := range all {
		for _, q := range []int64{mustHeader(t, b).MaxTimestamp, mustHeader(t, b).MaxTimestamp + 1} {
			want := -1
			for i, c := range all {
				if mustHeader(t, c).MaxTimestamp >= q {
					want = i
					break
				}
			}
			got, err := l.FindTimestamp(t.Context(), q, nil)
			if err != nil {
				t.Fatal(err)
			}
			if (want < 0 && len(got) != 0) || (want >= 0 && !bytes.Equal(got, all[want])) {
				t.Fatalf("FindTimestamp(%d): %d bytes, want batch %d", q, len(got), want)
			}
		}
	}
}

// wobbly timestamps: not monotonic, with ties.
func wobbly(i int) int64 { return int64(1000 + (i*7919)%53 + i/3) }

func TestRebuildMissingIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, smallCfg)
	all := appendN(t, l, 80, wobbly)
	mustClose(t, l)
	want := f.indexFiles(p)
	if len(want) < 6 {
		t.Fatalf("want several segments, have index files %v", want)
	}
	f.removeIndexFiles(p, false)

	f.newStore()
	l = f.open(p, smallCfg)
	equalBatches(t, readLog(t, l), all)
	checkTimestamps(t, l, all)
	mustClose(t, l)
	got := f.indexFiles(p)
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("rebuilt %s differs from the one written live", name)
		}
	}
}

func TestRebuildCorruptIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ext    string
		damage func(b []byte) []byte
	}{
		{"IndexPartialEntry", extIndex, func(b []byte) []byte { return b[:len(b)-3] }},
		{"IndexZeroed", extIndex, func(b []byte) []byte { return make([]byte, len(b)) }},
		{"IndexPositionPastEnd", extIndex, func(b []byte) []byte { b[len(b)-4] = 0x7f; return b }},
		{"IndexNotIncreasing", extIndex, func(b []byte) []byte { copy(b[8:16], b[0:8]); return b }},
		{"IndexPointsMidBatch", extIndex, func(b []byte) []byte { b[len(b)-1] -= 5; return b }},
		{"IndexGarbage", extIndex, func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) }},
		{"TimeIndexPartialEntry", extTimeIndex, func(b []byte) []byte { return b[:len(b)-1] }},
		{"TimeIndexEmpty", extTimeIndex, func(b []byte) []byte { return nil }},
		{"TimeIndexNotIncreasing", extTimeIndex, func(b []byte) []byte { copy(b[12:24], b[0:12]); return b }},
		{"TimeIndexOffsetPastSegment", extTimeIndex, func(b []byte) []byte { b[len(b)-4] = 0x40; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			p := storage.Partition{Topic: "t"}
			l := f.open(p, smallCfg)
			all := appendN(t, l, 80, wobbly)
			mustClose(t, l)
			want := f.indexFiles(p)
			// Damage a closed segment's file: the second.
			name := f.files(p, tc.ext)[1]
			path := filepath.Join(f.partDir(p), name)
			if len(want[name]) < 2*timeIndexEntrySize {
				t.Fatalf("%s has %d bytes; the damage needs two entries", name, len(want[name]))
			}
			if err := os.WriteFile(path, tc.damage(bytes.Clone(want[name])), 0o644); err != nil {
				t.Fatal(err)
			}

			f.newStore()
			l = f.open(p, smallCfg)
			if !strings.Contains(f.logged(), "rebuilding") {
				t.Errorf("damage not noticed; log:\n%s", f.logged())
			}
			equalBatches(t, readLog(t, l), all)
			checkTimestamps(t, l, all)
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want[name]) {
				t.Errorf("%s not rebuilt as written live", name)
			}
			mustClose(t, l)
		})
	}
}

func TestOpenCleansDirectory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, smallCfg)
	all := appendN(t, l, 20, seq)
	mustClose(t, l)
	dir := f.partDir(p)
	leftovers := []string{
		"00000000000000000000.index.tmp",
		"00000000000000000000.log.swap",
		"whatever.tmp",
		segmentName(999_999, extIndex),     // orphan: no segment
		segmentName(999_999, extTimeIndex), // orphan
	}
	for _, name := range append(leftovers, "README") {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.newStore()
	l = f.open(p, smallCfg)
	equalBatches(t, readLog(t, l), all)
	mustClose(t, l)
	for _, name := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("a file that is not the log's was touched: %v", err)
	}
}
