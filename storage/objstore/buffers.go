package objstore

import (
	"errors"
	"io"
)

// Buffers is an object's body held as the byte slices it is made of (a
// cluster-mode round's batches, each as its log handed it over), uploaded
// without copying them into one buffer first. The zero value is empty.
type Buffers struct {
	bufs [][]byte
	size int64
}

// Append returns b with p after what it holds; p is not copied, and must
// not change while the Buffers or a Reader of it is in use.
func (b Buffers) Append(p []byte) Buffers {
	if len(p) > 0 {
		b.bufs = append(b.bufs, p)
		b.size += int64(len(p))
	}
	return b
}

// Size is the bytes b holds.
func (b Buffers) Size() int64 { return b.size }

// Reader returns a reader of b from its start: an io.ReadSeeker and
// io.ReaderAt, as a bytes.Reader, so that a client can rewind it to
// send the body again. Each call returns a reader of its own.
func (b Buffers) Reader() *BuffersReader { return &BuffersReader{b: b} }

// BuffersReader reads a Buffers (Buffers.Reader).
type BuffersReader struct {
	b   Buffers
	off int64
}

// Read reads from the reader's offset.
func (r *BuffersReader) Read(p []byte) (int, error) {
	if r.off >= r.b.size {
		return 0, io.EOF
	}
	n, _ := r.ReadAt(p, r.off) // io.EOF only with n > 0 here: not an error for Read
	r.off += int64(n)
	return n, nil
}

// ReadAt reads len(p) bytes at off, or fewer and io.EOF at the end.
func (r *BuffersReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("objstore: negative offset")
	}
	if off >= r.b.size {
		return 0, io.EOF
	}
	n := 0
	var base int64
	for _, buf := range r.b.bufs {
		if n == len(p) {
			break
		}
		end := base + int64(len(buf))
		if off+int64(n) < end {
			n += copy(p[n:], buf[off+int64(n)-base:])
		}
		base = end
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek sets the offset of the next Read.
func (r *BuffersReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.b.size
	default:
		return 0, errors.New("objstore: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("objstore: negative position")
	}
	r.off = offset
	return offset, nil
}
