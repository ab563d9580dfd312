// Package mlog is vaultkube's stand-in for monis.app/mlog (whose module zip the Go module proxy
// refuses): the few functions secrets-store-csi-driver v1.6.1 calls, written on klog.
package mlog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"k8s.io/klog/v2"
)

// LogFormat names an output format.
type LogFormat string

const (
	// FormatText is klog's own text output (the default).
	FormatText LogFormat = "text"
	// FormatJSON writes one JSON object a line (log/slog's JSON handler behind klog).
	FormatJSON LogFormat = "json"
)

// Setup prepares logging and returns the function that flushes it; call it deferred.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally sets klog's verbosity to klogLevel and its output
// format for the whole process. A negative level or an unknown format is an error.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, klogLevel klog.Level, format LogFormat) error {
	if klogLevel < 0 {
		return errors.New("invalid log level: must not be negative")
	}
	switch format {
	case "", FormatText, FormatJSON:
	default:
		return fmt.Errorf("invalid log format %q: valid choices are the empty string, json and text", format)
	}
	// klog keeps its verbosity in a flag; a private FlagSet reaches it without touching the
	// program's own flags.
	fs := flag.NewFlagSet("mlog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Set("v", strconv.Itoa(int(klogLevel))); err != nil {
		return fmt.Errorf("set log level: %w", err)
	}
	if format == FormatJSON {
		// klog filters by verbosity before a record reaches the handler; V(n) arrives as
		// slog level -n, so the handler lets every level klog passed through.
		h := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-int(klogLevel))})
		klog.SetSlogLogger(slog.New(h))
	}
	return nil
}

// Error logs msg with err and key/value pairs.
func Error(msg string, err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, msg, keysAndValues...)
}

// Fatal logs err, flushes the logs and exits the process with status 1.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, "fatal error", keysAndValues...)
	klog.FlushAndExit(klog.ExitFlushTimeout, 1)
}
