package webhook

import (
	"crypto/sha256"
	"sync"

	"github.com/vaultkube/vaultkube/injector"
)

// DefaultDecisionCacheSize is how many recent pod objects the webhook remembers its answer
// for (--decision-cache-size).
const DefaultDecisionCacheSize = 128

// decisionCache remembers the answer for recently seen pod objects. The pods of one
// ReplicaSet reach the webhook byte for byte the same (no name yet, only generateName), so
// a Deployment scaled to 50 replicas is decided once and answered 49 times from here. The
// key is the SHA-256 of the request's namespace and the object's JSON; the injector's
// configuration is part of the answer, so SetConfig empties the cache. Only what the
// injector decided is kept (a patch, an unchanged allowance, a denial for the pod's
// annotations); internal errors are not.
type decisionCache struct {
	mu      sync.Mutex
	size    int
	entries map[[sha256.Size]byte]*decision
	ring    [][sha256.Size]byte // insertion order; the oldest entry goes first
	next    int
}

// decision is an answer without the request's UID.
type decision struct {
	allowed   bool
	patch     []byte
	patchType *string
	warnings  []string
	result    *status
	outcome   string           // the requests metric's label: allowed, patched or denied
	reason    string           // for the log line of a denial
	cfg       *injector.Config // the configuration it was decided with
}

func newDecisionCache(size int) *decisionCache {
	if size <= 0 {
		return nil
	}
	return &decisionCache{size: size, entries: make(map[[sha256.Size]byte]*decision, size)}
}

func decisionKey(namespace string, object []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write(object)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *decisionCache) get(k [sha256.Size]byte) *decision {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k]
}

func (c *decisionCache) put(k [sha256.Size]byte, d *decision) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return
	}
	if len(c.ring) < c.size {
		c.ring = append(c.ring, k)
	} else {
		delete(c.entries, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % c.size
	}
	c.entries[k] = d
}

func (c *decisionCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.ring, c.next = c.ring[:0], 0
}

func (c *decisionCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// response is the answer to the request with this UID.
func (d *decision) response(uid string) *admissionResponse {
	return &admissionResponse{UID: uid, Allowed: d.allowed, Patch: d.patch, PatchType: d.patchType, Warnings: d.warnings, Result: d.result}
}
