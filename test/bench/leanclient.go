package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"
)

// leanConn is one keep-alive HTTPS connection of the lean bench client: it writes a
// request serialised once and reads the answer on the calling goroutine. net/http's
// client hands every request to two goroutines of its own (a writer and a reader per
// connection) and costs more CPU per request than our injector does; on a 2-core machine
// that load lands in the servers' tail latency.
type leanConn struct {
	conn *tls.Conn
	br   *bufio.Reader
	body bytes.Buffer
}

// leanTimeout bounds one request and its answer.
var leanTimeout = 10 * time.Second

// leanClient holds the connections to one server, up to one per concurrent client.
type leanClient struct {
	addr string
	tls  *tls.Config
	idle chan *leanConn
}

func newLeanClient(addr string, pool *x509.CertPool, conns int) *leanClient {
	return &leanClient{
		addr: addr,
		tls:  &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		idle: make(chan *leanConn, conns),
	}
}

// leanRequest is the HTTP/1.1 request net/http's client sends for post, headers included.
func leanRequest(addr string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST /mutate?timeout=10s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Go-http-client/1.1\r\n"+
		"Content-Length: %d\r\nAccept: application/json, */*\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n",
		addr, len(body))
	b.Write(body)
	return b.Bytes()
}

func (c *leanClient) get() (*leanConn, error) {
	select {
	case rc := <-c.idle:
		return rc, nil
	default:
	}
	conn, err := tls.Dial("tcp", c.addr, c.tls)
	if err != nil {
		return nil, err
	}
	return &leanConn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10)}, nil
}

func (c *leanClient) put(rc *leanConn) {
	select {
	case c.idle <- rc:
	default:
		rc.conn.Close()
	}
}

func (c *leanClient) close() {
	for {
		select {
		case rc := <-c.idle:
			rc.conn.Close()
		default:
			return
		}
	}
}

// do sends req (from leanRequest) and returns the time from the write to the answer's last
// byte, and with keep the answer's body.
func (c *leanClient) do(req []byte, keep bool) ([]byte, time.Duration, error) {
	rc, err := c.get()
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	// as the net/http client's Timeout: a server that hangs fails the bench
	if err := rc.conn.SetDeadline(start.Add(leanTimeout)); err != nil {
		rc.conn.Close()
		return nil, 0, err
	}
	if _, err := rc.conn.Write(req); err != nil {
		rc.conn.Close()
		return nil, 0, err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.conn.Close()
		return nil, 0, err
	}
	rc.body.Reset()
	_, err = rc.body.ReadFrom(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		rc.conn.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		rc.conn.Close()
		return nil, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, tail(rc.body.Bytes(), 300))
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		rc.conn.Close()
		return nil, 0, fmt.Errorf("answer with Content-Encoding %q: the bench reads plain bodies", ce)
	}
	var out []byte
	if keep {
		out = bytes.Clone(rc.body.Bytes())
	}
	if resp.Close {
		rc.conn.Close()
	} else {
		c.put(rc)
	}
	return out, d, nil
}
