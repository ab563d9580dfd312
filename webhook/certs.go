package webhook

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// fileCertificate serves a certificate from PEM files and reloads it when either file
// changes (cert-manager rotates them in place). Files are checked at most once per
// checkInterval, on a TLS handshake; a failed reload keeps the previous certificate.
type fileCertificate struct {
	certFile, keyFile string
	checkInterval     time.Duration
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	lastCheck time.Time
}

func newFileCertificate(certFile, keyFile string, log *slog.Logger) (*fileCertificate, error) {
	f := &fileCertificate{certFile: certFile, keyFile: keyFile, checkInterval: time.Second, log: log, now: time.Now}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// stampOf identifies the current version of both files by size and modification time.
func (f *fileCertificate) stampOf() (string, error) {
	var s string
	for _, name := range []string{f.certFile, f.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d.%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

func (f *fileCertificate) reload() error {
	stamp, err := f.stampOf()
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s / key %s: %w", f.certFile, f.keyFile, err)
	}
	f.cert, f.stamp = &cert, stamp
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (f *fileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.lastCheck) >= f.checkInterval {
		f.lastCheck = now
		if stamp, err := f.stampOf(); err == nil && stamp != f.stamp {
			if err := f.reload(); err != nil {
				f.log.Error("keeping the previous TLS certificate", "error", err)
			} else {
				f.log.Info("TLS certificate reloaded", "cert", f.certFile)
			}
		}
	}
	return f.cert, nil
}
