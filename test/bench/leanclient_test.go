package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seenRequest is what the server saw of one request.
type seenRequest struct {
	method, uri string
	header      http.Header
	body        string
	proto       string
}

// recordingServer answers every request with answer (status, extra headers) and records
// what it saw and how many connections were opened.
func recordingServer(t *testing.T, status int, header map[string]string) (*httptest.Server, func() []seenRequest, *atomic.Int32) {
	t.Helper()
	var (
		mu    sync.Mutex
		seen  []seenRequest
		conns atomic.Int32
	)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.RequestURI, r.Header.Clone(), string(b), r.Proto})
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "answer to "+string(b))
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, func() []seenRequest { mu.Lock(); defer mu.Unlock(); return append([]seenRequest(nil), seen...) }, &conns
}

func TestLeanClientSendsWhatNetHTTPSends(t *testing.T) {
	ts, seen, conns := recordingServer(t, http.StatusOK, nil)
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	body := []byte(`{"kind":"AdmissionReview"}`)

	viaNetHTTP := &server{name: "nethttp", url: ts.URL, client: &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
	out, _, err := viaNetHTTP.send(body, true)
	require.NoError(t, err)
	assert.Equal(t, "answer to "+string(body), string(out))

	addr := strings.TrimPrefix(ts.URL, "https://")
	viaLean := &server{name: "lean", url: ts.URL, lean: newLeanClient(addr, pool, 2), leanReq: leanRequest(addr, body)}
	defer viaLean.lean.close()
	out, d, err := viaLean.send(body, true)
	require.NoError(t, err)
	assert.Equal(t, "answer to "+string(body), string(out))
	assert.Positive(t, d)

	got := seen()
	require.Len(t, got, 2)
	want, raw := got[0], got[1]
	assert.Equal(t, want.method, raw.method)
	assert.Equal(t, want.uri, raw.uri)
	assert.Equal(t, want.proto, raw.proto)
	assert.Equal(t, want.body, raw.body)
	assert.Equal(t, want.header, raw.header, "the same headers as net/http's client")
	assert.EqualValues(t, 2, conns.Load(), "one connection per client")
}

func TestLeanClientKeepsConnectionsAlive(t *testing.T) {
	ts, seen, conns := recordingServer(t, http.StatusOK, nil)
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	addr := strings.TrimPrefix(ts.URL, "https://")
	s := &server{name: "lean", url: ts.URL, lean: newLeanClient(addr, pool, 3), leanReq: leanRequest(addr, []byte("{}"))}
	defer s.lean.close()

	var lat []time.Duration
	require.NoError(t, s.sequential(nil, 20, &lat))
	assert.Len(t, lat, 20)
	assert.EqualValues(t, 1, conns.Load(), "sequential requests share one connection")

	lat = nil
	require.NoError(t, s.concurrent(nil, 30, 3, &lat))
	assert.Len(t, lat, 30)
	assert.LessOrEqual(t, conns.Load(), int32(3), "at most one connection per concurrent client")
	assert.Len(t, seen(), 50)
}

func TestLeanClientRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		want   string
	}{
		{"error status", http.StatusInternalServerError, nil, "HTTP 500: answer to {}"},
		{"compressed answer", http.StatusOK, map[string]string{"Content-Encoding": "gzip"}, `Content-Encoding "gzip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _, _ := recordingServer(t, tc.status, tc.header)
			pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			addr := strings.TrimPrefix(ts.URL, "https://")
			s := &server{name: "srv", url: ts.URL, lean: newLeanClient(addr, pool, 1), leanReq: leanRequest(addr, []byte("{}"))}
			defer s.lean.close()
			_, _, err := s.post(nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "srv: ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLeanClientTimesOut(t *testing.T) {
	// a TLS server that reads the request and does not answer before the test ends
	release := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-release
	}))
	ts.StartTLS()
	defer ts.Close()
	defer close(release)
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	addr := strings.TrimPrefix(ts.URL, "https://")
	c := newLeanClient(addr, pool, 1)
	defer c.close()
	old := leanTimeout
	leanTimeout = 200 * time.Millisecond
	defer func() { leanTimeout = old }()
	start := time.Now()
	_, _, err := c.do(leanRequest(addr, []byte("{}")), false)
	require.Error(t, err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), err.Error())
	assert.Less(t, time.Since(start), 5*time.Second)
}
