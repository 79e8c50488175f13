// Package protocol is Kafka's framing: it reads a size-prefixed request,
// parses its header, decodes the body with kmsg and encodes responses. It
// also holds the one table of API keys and versions the broker implements,
// from which ApiVersions answers are generated.
//
// A request on the wire:
//
//	size            int32   bytes that follow (checked against the limit
//	                        before anything is allocated)
//	api_key         int16
//	api_version     int16
//	correlation_id  int32
//	client_id       nullable string (int16 length; -1 is null)
//	tagged_fields   only in header v2, i.e. when the request version is
//	                flexible (KIP-482)
//	body            kmsg decodes it
//
// A response:
//
//	size            int32
//	correlation_id  int32
//	tagged_fields   only in header v1: flexible responses except
//	                ApiVersions, whose response header is always v0 so that
//	                a client can read it whatever version it asked for
//	body
//
// The package knows nothing of storage, the catalog or the broker.
package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRequestSize is Kafka's socket.request.max.bytes default.
const DefaultMaxRequestSize = 100 << 20

// Minimum frame: api_key, api_version, correlation_id, client_id length.
const minFrameSize = 2 + 2 + 4 + 2

// Frame errors. A connection that produced one is closed: after a bad size
// the stream cannot be resynchronised.
var (
	ErrFrameTooLarge = errors.New("protocol: request larger than socket.request.max.bytes")
	ErrFrameTooSmall = errors.New("protocol: request size too small or negative")
)

// firstChunk is the most a frame buffer holds before any of the frame has
// arrived. After that the buffer at most doubles the bytes received, so a
// peer claiming a huge size and sending little costs little memory, and a
// real large frame costs O(size) copying.
const firstChunk = 64 << 10

// ReadFrame reads one size-prefixed frame from r into buf (reusing its
// capacity) and returns the frame without its size prefix. The size is
// checked against limit before any allocation, and the buffer grows with the
// bytes received rather than with the size claimed. A clean EOF before the
// first byte returns io.EOF; a frame cut short returns
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, limit int32, buf []byte) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return buf[:0], err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < minFrameSize {
		return buf[:0], fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, n)
	}
	if n > limit {
		return buf[:0], fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, limit)
	}
	size := int(n)
	if cap(buf) >= size {
		buf = buf[:size]
		_, err := io.ReadFull(r, buf)
		return buf, unexpected(err)
	}
	// Grow as bytes arrive, never more than twice what has arrived.
	buf = buf[:0]
	for len(buf) < size {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(size, max(2*cap(buf), firstChunk)))
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			return buf, unexpected(err)
		}
	}
	return buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
