package serve

import (
	"container/list"
	"context"
	"sync"

	"github.com/hecc-dev/hecc/runtime"
)

// keyCache keeps parsed key sets, each as the runtime.Server that attaches
// it to its model's prepared circuit, least recently used evicted first
// once their memory (each server's own: its keys) exceeds the budget. A key set being loaded is loaded once, whoever else
// asks for it meanwhile waits for that load.
type keyCache struct {
	budget int64
	loads  chan struct{} // one key set parsed at a time: each can take GBs

	mu      sync.Mutex
	entries map[string]*cacheEntry
	lru     *list.List // of *cacheEntry, most recently used at the front
	bytes   int64
	onSize  func(bytes int64, entries int)
}

type cacheEntry struct {
	id    string
	ready chan struct{} // closed when srv or err is set
	srv   *runtime.Server
	err   error
	size  int64
	elem  *list.Element // nil while loading or once evicted
}

func newKeyCache(budget int64, onSize func(int64, int)) *keyCache {
	return &keyCache{budget: budget, loads: make(chan struct{}, 1), entries: map[string]*cacheEntry{}, lru: list.New(), onSize: onSize}
}

// get returns id's prepared server, loading it with load (which returns
// the server and its size in memory) if it is not cached; hit says whether
// it was.
func (c *keyCache) get(ctx context.Context, id string, load func() (*runtime.Server, int64, error)) (srv *runtime.Server, hit bool, err error) {
	c.mu.Lock()
	if e, ok := c.entries[id]; ok {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		if e.err != nil {
			return c.get(ctx, id, load) // the failed load was dropped: try again
		}
		return e.srv, true, nil
	}
	e := &cacheEntry{id: id, ready: make(chan struct{})}
	c.entries[id] = e
	c.mu.Unlock()

	select {
	case c.loads <- struct{}{}:
		e.srv, e.size, e.err = load()
		<-c.loads
	case <-ctx.Done():
		e.err = ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	close(e.ready)
	switch {
	case e.err != nil:
		delete(c.entries, id)
	case e.size > c.budget:
		delete(c.entries, id) // used by this request, never kept
	default:
		e.elem = c.lru.PushFront(e)
		c.bytes += e.size
		c.evictLocked()
	}
	c.report()
	return e.srv, false, e.err
}

func (c *keyCache) evictLocked() {
	for c.bytes > c.budget {
		e := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		c.dropLocked(e)
	}
}

func (c *keyCache) dropLocked(e *cacheEntry) {
	delete(c.entries, e.id)
	e.elem = nil
	c.bytes -= e.size
}

// remove drops id if it is cached (a running evaluation keeps its server).
func (c *keyCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[id]; ok && e.elem != nil {
		c.lru.Remove(e.elem)
		c.dropLocked(e)
		c.report()
	}
}

func (c *keyCache) report() {
	if c.onSize != nil {
		c.onSize(c.bytes, c.lru.Len())
	}
}
