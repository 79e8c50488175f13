package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is a request header (v1 or v2; the broker serves no API whose
// versions use header v0).
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	// ClientID is the client's id; empty when null.
	ClientID string
}

// Request errors. ParseRequest wraps them with what it knows; a connection
// that sent one is closed, as Kafka closes it, except for an ApiVersions
// request of a version too new (see UnsupportedVersionError).
var (
	ErrUnknownAPIKey = errors.New("protocol: unknown api key")
	ErrMalformed     = errors.New("protocol: malformed request")
)

// UnsupportedVersionError is a request whose version the broker does not
// implement. Its header is complete, so that an ApiVersions request can be
// answered with UNSUPPORTED_VERSION in the v0 format (KIP-511); any other
// API closes the connection.
type UnsupportedVersionError struct {
	Header Header
	Min    int16 // -1, -1 when the key is not served at all
	Max    int16
}

func (e *UnsupportedVersionError) Error() string {
	if e.Min < 0 {
		return fmt.Sprintf("protocol: %s (key %d) is not served", kmsg.NameForKey(e.Header.Key), e.Header.Key)
	}
	return fmt.Sprintf("protocol: %s v%d not served (v%d-v%d are)", kmsg.NameForKey(e.Header.Key), e.Header.Version, e.Min, e.Max)
}

// FrameKey returns the API key of a frame (without its size prefix)
// without parsing it; ok is false when the frame is too short to hold one.
func FrameKey(frame []byte) (key int16, ok bool) {
	if len(frame) < 2 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(frame)), true
}

// ParseRequest parses a frame (without its size prefix) into its header and
// decoded body. Only versions in t are decoded. The body may hold slices of
// frame (record batches are never copied); strings are copied.
func ParseRequest(frame []byte, t *Table) (Header, kmsg.Request, error) {
	var h Header
	if len(frame) < minFrameSize {
		return h, nil, fmt.Errorf("%w: header truncated", ErrMalformed)
	}
	h.Key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	idLen := int16(binary.BigEndian.Uint16(frame[8:]))
	rest := frame[minFrameSize:]
	if idLen > 0 {
		if int(idLen) > len(rest) {
			return h, nil, fmt.Errorf("%w: client id truncated", ErrMalformed)
		}
		h.ClientID = string(rest[:idLen])
		rest = rest[idLen:]
	} else if idLen < -1 {
		return h, nil, fmt.Errorf("%w: client id length %d", ErrMalformed, idLen)
	}

	req := kmsg.RequestForKey(h.Key)
	if req == nil {
		return h, nil, fmt.Errorf("%w %d", ErrUnknownAPIKey, h.Key)
	}
	if !t.Supports(h.Key, h.Version) {
		r, ok := t.Range(h.Key)
		if !ok {
			r = VersionRange{Key: h.Key, Min: -1, Max: -1}
		}
		return h, nil, &UnsupportedVersionError{Header: h, Min: r.Min, Max: r.Max}
	}
	req.SetVersion(h.Version)
	if req.IsFlexible() {
		var ok bool
		if rest, ok = skipTags(rest); !ok {
			return h, nil, fmt.Errorf("%w: header tagged fields", ErrMalformed)
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d: %v", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, err)
	}
	return h, req, nil
}

// skipTags skips a tagged-field section: a count, then (tag, size, bytes)
// each, all unsigned varints.
func skipTags(b []byte) ([]byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, false
	}
	b = b[w:]
	for ; n > 0; n-- {
		if _, w = binary.Uvarint(b); w <= 0 {
			return nil, false
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || size > uint64(len(b)-w) {
			return nil, false
		}
		b = b[w+int(size):]
	}
	return b, true
}

// AppendResponse appends resp, framed (size prefix and response header), to
// dst. resp's version must be set to the request's.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

const apiVersionsKey = 18
