package webhook

import (
	"bytes"
	"crypto/sha256"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/jsonscan"
)

// DefaultDecisionCacheSize is how many recent pod objects the webhook remembers its answer
// for (--decision-cache-size).
const DefaultDecisionCacheSize = 128

// decisionCache remembers the answer for recently seen pods. The pods of one ReplicaSet
// reach the webhook alike (no name yet, only generateName) but for the generated name of
// their service-account volume and the managedFields timestamps, which decisionKey leaves
// out, so a Deployment scaled to 50 replicas is decided once and answered 49 times from
// here. Each entry names the configuration it was decided with, and SetConfig empties the
// cache. Only what the injector decided is kept (a patch, an unchanged allowance, a denial
// for the pod's annotations); internal errors are not.
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

// generatedPrefix starts the name of the service-account volume the API server adds to
// every pod with a random suffix, before webhooks run (kube-api-access-x7k2p).
const generatedPrefix = "kube-api-access-"

// generatedNames returns the names of the service-account volumes in the pod object's
// spec, found without decoding the pod: the API server writes a volume as
// {"name":"kube-api-access-x7k2p","projected":{...}}. A volume written otherwise is simply
// not recognised (its pods then share no cache entry).
func generatedNames(object []byte) [][]byte {
	var names [][]byte
	jsonscan.EachMember(object, func(key, value []byte) bool {
		if string(key) != "spec" {
			return true
		}
		const open = `{"name":"` + generatedPrefix
		for rest := value; ; {
			i := bytes.Index(rest, []byte(open))
			if i < 0 {
				break
			}
			rest = rest[i+len(`{"name":"`):]
			end := bytes.IndexByte(rest, '"')
			if end < 0 {
				break
			}
			name := rest[:end]
			if bytes.HasPrefix(rest[end:], []byte(`","projected":`)) && !slices.ContainsFunc(names, func(n []byte) bool { return bytes.Equal(n, name) }) {
				names = append(names, name)
			}
			rest = rest[end:]
		}
		return false
	})
	return names
}

// decisionKey hashes what the injector's answer depends on: the namespace and the pod
// object, without metadata.managedFields (timestamps; the injector never reads them) and
// with the generated volume names replaced by one placeholder. The pods of a ReplicaSet
// differ in nothing else when they reach the webhook (no name yet, only generateName).
// decide caches an answer only when it does not mention a generated name, so that it is
// the answer for every pod with this key.
func decisionKey(namespace string, object []byte, generated [][]byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	member := func(key, value []byte) {
		h.Write(key)
		h.Write([]byte{0})
		writeNormalized(h, value, generated)
		h.Write([]byte{0})
	}
	jsonscan.EachMember(object, func(key, value []byte) bool {
		if string(key) != "metadata" {
			member(key, value)
			return true
		}
		h.Write([]byte("metadata{"))
		jsonscan.EachMember(value, func(k, v []byte) bool {
			if string(k) != "managedFields" {
				member(k, v)
			}
			return true
		})
		h.Write([]byte("}"))
		return true
	})
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// writeNormalized writes b with every generated name replaced by the same placeholder.
func writeNormalized(w io.Writer, b []byte, generated [][]byte) {
	for len(b) > 0 {
		at, n := -1, 0
		for _, name := range generated {
			if i := bytes.Index(b, name); i >= 0 && (at < 0 || i < at) {
				at, n = i, len(name)
			}
		}
		if at < 0 {
			_, _ = w.Write(b)
			return
		}
		_, _ = w.Write(b[:at])
		_, _ = w.Write([]byte(generatedPrefix + "\x00"))
		b = b[at+n:]
	}
}

// mentions reports whether an answer names one of the generated names.
func mentions(resp *admissionResponse, generated [][]byte) bool {
	for _, name := range generated {
		if bytes.Contains(resp.Patch, name) {
			return true
		}
		for _, w := range resp.Warnings {
			if strings.Contains(w, string(name)) {
				return true
			}
		}
		if resp.Result != nil && strings.Contains(resp.Result.Message, string(name)) {
			return true
		}
	}
	return false
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
