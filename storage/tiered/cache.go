package tiered

import (
	"container/list"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhouse/streamhouse/storage"
)

// chunkSize is the unit remote objects are fetched and cached in: a ranged
// GET each. 4 MiB keeps requests few for sequential readers (300 MB/s is
// 75 GETs a second) and waste small for a fetch that wants a few KiB.
const chunkSize = 4 << 20

// readAheadChunks is how many chunks past a sequential read are fetched in
// the background; readAheadSlots bounds such fetches store-wide.
const (
	readAheadChunks = 4
	readAheadSlots  = 16
)

// cache holds chunks of remote objects in files under dir, at most budget
// bytes, least recently used out first. Concurrent misses of one chunk
// share one fetch. Objects are immutable (an upload's key is never used
// again), so a chunk never goes stale, and the chunks stay across a
// restart: each file ends with its chunk's CRC32C, checked before a chunk
// a previous run left is first served, so that one a crash left short is
// fetched again instead.
type cache struct {
	dir    string
	budget int64
	fetch  func(ctx context.Context, key string, off, n int64) ([]byte, error)

	mu      sync.Mutex // guards entries, lru, used, loading
	entries map[chunkID]*list.Element
	lru     *list.List // of *entry, most recent at the front
	used    int64
	loading map[chunkID]*load

	ahead      chan struct{} // bounds read-ahead fetches of chunks
	aheadSmall chan struct{} // and of small objects, apart: they come first

	// Every fetch runs in a goroutine of the cache's own (run), under
	// fetchTimeout and bgCtx, not in a reader's: the readers that want it,
	// the first one included, wait for it only until their own deadline
	// (a fetch's max wait), and it goes on for the others. close cancels
	// bgCtx and waits for them.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	bgMu     sync.Mutex // guards bgClosed, and orders bg.Add before close's bg.Wait
	bgClosed bool

	// What reads found: a cached chunk, a chunk to fetch and wait for;
	// and the chunks fetched ahead.
	hits, misses, prefetches atomic.Int64

	// Small objects (segments' indexes) are kept whole in memory, at
	// most smallBudget bytes, least recently used out first: one GET each
	// (no HEAD for its size), never a file.
	smallMu      sync.Mutex // guards small, smallLRU, smallUsed, smallLoading
	small        map[string]*list.Element
	smallLRU     *list.List // of *smallEntry
	smallUsed    int64
	smallLoading map[string]*load
}

type smallEntry struct {
	key  string
	data []byte
}

// smallBudget bounds the small objects kept in memory: the indexes of a few
// hundred segments of 1 GiB.
const smallBudget = 64 << 20

type chunkID struct {
	key   string
	index int64
}

type entry struct {
	id   chunkID
	path string
	size int64 // of the chunk; its file has a CRC32C after
	// checked is set once the file is known whole: at once for a chunk
	// this run wrote, at its first read for one a previous run left
	// (guarded by mu).
	checked bool
}

// load is one fetch of a chunk under way; waiters wait on done.
type load struct {
	done chan struct{}
	data []byte
	err  error
}

func newCache(dir string, budget int64, fetch func(ctx context.Context, key string, off, n int64) ([]byte, error)) (*cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tiered: cache %s: %w", dir, err)
	}
	bgCtx, bgCancel := context.WithCancel(context.Background())
	c := &cache{
		dir: dir, budget: budget, fetch: fetch, bgCtx: bgCtx, bgCancel: bgCancel,
		entries: map[chunkID]*list.Element{}, lru: list.New(), loading: map[chunkID]*load{},
		small: map[string]*list.Element{}, smallLRU: list.New(), smallLoading: map[string]*load{},
		ahead: make(chan struct{}, readAheadSlots), aheadSmall: make(chan struct{}, readAheadSlots),
	}
	if err := c.load(); err != nil {
		bgCancel()
		return nil, err
	}
	return c, nil
}

// load takes up the chunks a previous run left in the directory, the most
// recently written first in line to stay; each is checked against its
// CRC32C before it is first served (check). Files of another shape (a
// chunk half written, *.tmp; another chunk size) go.
func (c *cache) load() error {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("tiered: cache %s: %w", c.dir, err)
	}
	type found struct {
		e   *entry
		mod time.Time
	}
	var all []found
	for _, de := range ents {
		path := filepath.Join(c.dir, de.Name())
		id, ok := parseChunkName(de.Name())
		info, err := de.Info()
		if !ok || err != nil || !info.Mode().IsRegular() || info.Size() <= crcSize {
			os.RemoveAll(path)
			continue
		}
		all = append(all, found{&entry{id: id, path: path, size: info.Size() - crcSize}, info.ModTime()})
	}
	slices.SortFunc(all, func(a, b found) int { return a.mod.Compare(b.mod) })
	for _, f := range all {
		c.entries[f.e.id] = c.lru.PushFront(f.e)
		c.used += f.e.size
	}
	for c.used > c.budget && c.lru.Len() > 0 {
		c.dropLocked(c.lru.Back().Value.(*entry).id)
	}
	return nil
}

// crcSize is the CRC32C (Castagnoli) after a chunk's bytes in its file.
const crcSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkName names a chunk's file: its object's key in hex, the chunk size
// (a file of another size is not taken up) and its index.
func chunkName(id chunkID) string {
	return fmt.Sprintf("%s-%d-%d", hex.EncodeToString([]byte(id.key)), chunkSize, id.index)
}

func parseChunkName(name string) (chunkID, bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 || parts[1] != strconv.Itoa(chunkSize) {
		return chunkID{}, false
	}
	key, err := hex.DecodeString(parts[0])
	idx, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || err2 != nil || idx < 0 || len(key) == 0 {
		return chunkID{}, false
	}
	return chunkID{string(key), idx}, true
}

// check verifies a chunk file a previous run left, once, before it is
// served: a file that a crash of the machine left short or zeroed (the
// cache is not synced) fails, and the caller drops it.
func (c *cache) check(e *entry) bool {
	c.mu.Lock()
	ok := e.checked
	c.mu.Unlock()
	if ok {
		return true
	}
	b, err := os.ReadFile(e.path)
	if err != nil || int64(len(b)) != e.size+crcSize ||
		crc32.Checksum(b[:e.size], castagnoli) != binary.BigEndian.Uint32(b[e.size:]) {
		return false
	}
	c.mu.Lock()
	e.checked = true
	c.mu.Unlock()
	return true
}

// readAt returns n bytes of the object key (objSize bytes long) from off,
// fewer at its end.
func (c *cache) readAt(ctx context.Context, key string, objSize, off int64, n int) ([]byte, error) {
	end := min(objSize, off+int64(n))
	if off >= end {
		return nil, nil
	}
	out := make([]byte, end-off)
	if err := c.readInto(ctx, key, objSize, off, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readInto fills dst with the bytes of the object key (objSize bytes long)
// from off, which must all be there. A cached chunk is read for the bytes
// wanted only.
func (c *cache) readInto(ctx context.Context, key string, objSize, off int64, dst []byte) error {
	end := off + int64(len(dst))
	if end > objSize {
		return fmt.Errorf("tiered: %s: %d bytes from %d, past its end %d", key, len(dst), off, objSize)
	}
	for pos := off; pos < end; {
		idx := pos / chunkSize
		from := pos - idx*chunkSize
		to := min(chunkSize, end-idx*chunkSize)
		if err := c.chunkRange(ctx, key, objSize, idx, from, dst[pos-off:pos-off+(to-from)]); err != nil {
			return err
		}
		pos = idx*chunkSize + to
	}
	return nil
}

// object returns the whole object key (a small one: an index), from memory
// or fetched, once for every reader that wants it meanwhile.
func (c *cache) object(ctx context.Context, key string) ([]byte, error) {
	c.smallMu.Lock()
	if el, ok := c.small[key]; ok {
		c.smallLRU.MoveToFront(el)
		c.smallMu.Unlock()
		c.hits.Add(1)
		return el.Value.(*smallEntry).data, nil
	}
	if l, ok := c.smallLoading[key]; ok {
		c.smallMu.Unlock()
		c.misses.Add(1)
		select {
		case <-l.done:
			return l.data, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &load{done: make(chan struct{})}
	c.smallLoading[key] = l
	c.smallMu.Unlock()
	c.misses.Add(1)
	c.run(l, func(ctx context.Context) {
		l.data, l.err = c.fetch(ctx, key, 0, -1)
	}, func() {
		c.smallMu.Lock()
		defer c.smallMu.Unlock()
		delete(c.smallLoading, key)
		if l.err == nil && int64(len(l.data)) <= smallBudget/4 {
			c.small[key] = c.smallLRU.PushFront(&smallEntry{key: key, data: l.data})
			c.smallUsed += int64(len(l.data))
			for c.smallUsed > smallBudget && c.smallLRU.Len() > 1 {
				c.dropSmallLocked(c.smallLRU.Back().Value.(*smallEntry).key)
			}
		}
	}, nil)
	return l.wait(ctx)
}

// run runs fetch for load l in a goroutine of the cache's, with
// fetchTimeout, then done, and then wakes l's waiters, and then runs after
// (if any): work that readers need not wait for. After close it fetches
// nothing: l fails with storage.ErrClosed.
func (c *cache) run(l *load, fetch func(ctx context.Context), done, after func()) {
	c.bgMu.Lock()
	if c.bgClosed {
		c.bgMu.Unlock()
		l.err = fmt.Errorf("tiered: the read cache: %w", storage.ErrClosed)
		done()
		close(l.done)
		if after != nil {
			after()
		}
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(c.bgCtx, fetchTimeout)
		defer cancel()
		fetch(ctx)
		done()
		close(l.done)
		if after != nil {
			after()
		}
	}()
}

// finished reports whether the load is done (its data or err set).
func (l *load) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// wait waits for the load until ctx ends.
func (l *load) wait(ctx context.Context) ([]byte, error) {
	select {
	case <-l.done:
		return l.data, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// close cancels the fetches under way and waits for them.
func (c *cache) close() {
	c.bgMu.Lock()
	c.bgClosed = true
	c.bgMu.Unlock()
	c.bgCancel()
	c.bg.Wait()
}

// dropSmallLocked forgets a small object. Caller holds smallMu.
func (c *cache) dropSmallLocked(key string) {
	el, ok := c.small[key]
	if !ok {
		return
	}
	c.smallLRU.Remove(el)
	delete(c.small, key)
	c.smallUsed -= int64(len(el.Value.(*smallEntry).data))
}

// background runs f in a slot of slots (c.ahead for chunks, c.aheadSmall
// for small objects) when one is free; otherwise not at all (read-ahead is
// an optimisation). f waits for its fetch (run) with the cache's context.
func (c *cache) background(slots chan struct{}, f func(ctx context.Context)) {
	select {
	case slots <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-slots }()
		f(c.bgCtx)
	}()
}

// chunkRange fills dst with chunk idx of key from byte from: read from the
// chunk's file when it is cached, else fetched (once for every reader that
// misses it meanwhile).
func (c *cache) chunkRange(ctx context.Context, key string, objSize, idx, from int64, dst []byte) error {
	id := chunkID{key, idx}
	c.mu.Lock()
	if el, ok := c.entries[id]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*entry)
		c.mu.Unlock()
		if from+int64(len(dst)) > e.size || !c.check(e) {
			// Not whole (or not the chunk asked for): fetched
			// again below.
		} else if f, err := os.Open(e.path); err == nil {
			n, err := f.ReadAt(dst, from)
			f.Close()
			if n == len(dst) {
				c.hits.Add(1)
				return nil
			}
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
		}
		// Gone (evicted meanwhile, or removed by hand): fetch again.
		c.mu.Lock()
		c.dropLocked(id)
	}
	if l, ok := c.loading[id]; ok && l.finished() {
		// Fetched, its file not written yet: from memory.
		c.mu.Unlock()
		if l.err == nil && from+int64(len(dst)) <= int64(len(l.data)) {
			copy(dst, l.data[from:])
			c.hits.Add(1)
			return nil
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	c.misses.Add(1)
	data, err := c.chunk(ctx, key, objSize, idx)
	if err != nil {
		return err
	}
	if from+int64(len(dst)) > int64(len(data)) {
		return fmt.Errorf("tiered: %s: chunk %d holds %d bytes, short of %d", key, idx, len(data), from+int64(len(dst)))
	}
	copy(dst, data[from:])
	return nil
}

// readAhead fetches chunk idx of key in the background if it is not
// cached, when a read-ahead slot is free.
func (c *cache) readAhead(key string, objSize, idx int64) {
	if idx*chunkSize >= objSize {
		return
	}
	c.mu.Lock()
	_, have := c.entries[chunkID{key, idx}]
	_, busy := c.loading[chunkID{key, idx}]
	c.mu.Unlock()
	if have || busy {
		return
	}
	c.background(c.ahead, func(ctx context.Context) {
		c.prefetches.Add(1)
		_, _ = c.chunk(ctx, key, objSize, idx)
	})
}

// chunk returns chunk idx of key, fetched, or the one fetch of it under
// way; a chunk cached meanwhile is read from its file.
func (c *cache) chunk(ctx context.Context, key string, objSize, idx int64) ([]byte, error) {
	id := chunkID{key, idx}
	c.mu.Lock()
	if el, ok := c.entries[id]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*entry)
		c.mu.Unlock()
		if c.check(e) {
			data, err := os.ReadFile(e.path)
			if err == nil && int64(len(data)) == e.size+crcSize {
				return data[:e.size], nil
			}
		}
		c.mu.Lock()
		c.dropLocked(id)
	}
	if l, ok := c.loading[id]; ok {
		c.mu.Unlock()
		return l.wait(ctx)
	}
	l := &load{done: make(chan struct{})}
	c.loading[id] = l
	c.mu.Unlock()

	off := idx * chunkSize
	want := min(chunkSize, objSize-off)
	c.run(l, func(ctx context.Context) {
		l.data, l.err = c.fetch(ctx, key, off, want)
		if l.err == nil && int64(len(l.data)) != want {
			l.err = fmt.Errorf("tiered: %s: chunk %d: %d bytes, want %d", key, idx, len(l.data), want)
		}
	}, func() {
		if l.err != nil {
			c.mu.Lock()
			delete(c.loading, id)
			c.mu.Unlock()
		}
	}, func() {
		if l.err != nil {
			return
		}
		// The readers have the bytes: the chunk's file is written
		// after, not on their way (4 MiB to the page cache takes
		// milliseconds). Until it is, the load stays findable, done,
		// so that a reader meanwhile takes its bytes from memory.
		c.store(id, l.data)
		c.mu.Lock()
		delete(c.loading, id)
		c.mu.Unlock()
	})
	return l.wait(ctx)
}

// store writes a fetched chunk to its file and evicts the least recently
// used ones past the budget. A chunk that cannot be written is served
// uncached.
func (c *cache) store(id chunkID, data []byte) {
	path := filepath.Join(c.dir, chunkName(id))
	tmp := path + ".tmp"
	if err := writeChunk(tmp, data); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; ok {
		return
	}
	c.entries[id] = c.lru.PushFront(&entry{id: id, path: path, size: int64(len(data)), checked: true})
	c.used += int64(len(data))
	for c.used > c.budget && c.lru.Len() > 1 {
		c.dropLocked(c.lru.Back().Value.(*entry).id)
	}
}

// writeChunk writes data and its CRC32C to a new file at path.
func writeChunk(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	var sum [crcSize]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(data, castagnoli))
	_, err = f.Write(data)
	if err == nil {
		_, err = f.Write(sum[:])
	}
	return errors.Join(err, f.Close())
}

// dropLocked removes a chunk from the cache. Caller holds mu.
func (c *cache) dropLocked(id chunkID) {
	el, ok := c.entries[id]
	if !ok {
		return
	}
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.entries, id)
	c.used -= e.size
	os.Remove(e.path)
}

// evict drops every chunk of key, and key if it is a small object kept
// (its object is being deleted).
func (c *cache) evict(key string) {
	c.smallMu.Lock()
	c.dropSmallLocked(key)
	c.smallMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.entries {
		if id.key == key {
			c.dropLocked(id)
		}
	}
}

// bytes returns how much the cache holds.
func (c *cache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
