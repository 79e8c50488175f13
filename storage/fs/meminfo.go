package fs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
)

// meminfoPath is where Linux reports its memory, the page cache's dirty
// and under-write-back bytes among it.
const meminfoPath = "/proc/meminfo"

// dirtyProbe reads the machine's dirty and under-write-back page cache in
// bytes from meminfoPath, through one descriptor opened at the first read
// (a read costs ~4 µs). Used by one goroutine at a time; close releases
// the descriptor.
type dirtyProbe struct {
	f   *os.File
	buf []byte
}

func (p *dirtyProbe) read() (int64, error) {
	if p.f == nil {
		f, err := os.Open(meminfoPath)
		if err != nil {
			return 0, err
		}
		p.f, p.buf = f, make([]byte, 8<<10)
	}
	n, err := p.f.ReadAt(p.buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return parseDirty(p.buf[:n])
}

func (p *dirtyProbe) close() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

var errNoDirty = errors.New("fs: no Dirty and Writeback lines in " + meminfoPath)

// parseDirty sums the Dirty and Writeback lines of a meminfo text
// ("Dirty:   1976 kB"), in bytes.
func parseDirty(b []byte) (int64, error) {
	var sum int64
	found := 0
	for len(b) > 0 && found < 2 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		name, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || !bytes.Equal(name, []byte("Dirty")) && !bytes.Equal(name, []byte("Writeback")) {
			continue
		}
		rest = bytes.TrimSpace(rest)
		kb, ok := bytes.CutSuffix(rest, []byte(" kB"))
		if !ok {
			return 0, errors.New("fs: " + meminfoPath + ": " + string(line) + ": not in kB")
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(kb)), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, errors.New("fs: " + meminfoPath + ": " + string(line) + ": not a size")
		}
		sum += n << 10
		found++
	}
	if found < 2 {
		return 0, errNoDirty
	}
	return sum, nil
}
