package plugin

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// InitSecretKey is the key of the opt-in Secret that holds Vault's init JSON.
const InitSecretKey = "vault-init.json"

// initJSON is the part of `vault operator init -format=json` (or the API's sys/init answer)
// that unseal reads. Both spellings of the keys are accepted.
type initJSON struct {
	UnsealKeysB64   []string `json:"unseal_keys_b64"`
	KeysBase64      []string `json:"keys_base64"`
	UnsealThreshold int      `json:"unseal_threshold"`
	RecoveryKeysB64 []string `json:"recovery_keys_b64"`
	RecoveryShares  int      `json:"recovery_keys_shares"`
	RecoveryThresh  int      `json:"recovery_keys_threshold"`
	RootToken       string   `json:"root_token"`
}

// unsealKeys is a set of keys and, when the source says so, the threshold.
type unsealKeys struct {
	Keys      []string
	Threshold int // 0 when unknown
	Source    string
}

// parseKeys reads unseal keys from Vault's init JSON or from one key per line (blank lines
// and # comments ignored). Errors never quote a key: they name the line.
func parseKeys(data []byte, source string) (*unsealKeys, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s holds no unseal keys", source)
	}
	if trimmed[0] == '{' {
		var ij initJSON
		if err := json.Unmarshal(trimmed, &ij); err != nil {
			return nil, fmt.Errorf("%s looks like JSON but is not Vault's init JSON: %s", source, jsonErrorWithoutData(err))
		}
		keys := ij.UnsealKeysB64
		if len(keys) == 0 {
			keys = ij.KeysBase64
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%s has neither unseal_keys_b64 nor keys_base64", source)
		}
		for i, k := range keys {
			if !validKey(k) {
				return nil, fmt.Errorf("%s: unseal key %d is not base64 or hex", source, i+1)
			}
		}
		return &unsealKeys{Keys: dedupe(keys), Threshold: ij.UnsealThreshold, Source: source}, nil
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if !validKey(s) {
			return nil, fmt.Errorf("%s line %d is not a base64 or hex unseal key", source, line)
		}
		keys = append(keys, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no unseal keys", source)
	}
	return &unsealKeys{Keys: dedupe(keys), Source: source}, nil
}

// jsonErrorWithoutData keeps a JSON syntax error's position but none of the data.
func jsonErrorWithoutData(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong type", te.Field)
	}
	return "invalid JSON"
}

// validKey accepts what Vault's sys/unseal accepts: hex or standard base64 of 16–33 bytes
// (Shamir shares carry one extra byte; a threshold-1 key is the bare 32-byte key).
func validKey(k string) bool {
	if b, err := hex.DecodeString(k); err == nil {
		return len(b) >= 16 && len(b) <= 33
	}
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) >= 16 && len(b) <= 33
}

func dedupe(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// readKeysFile reads --keys-file (or stdin for "-") and warns when the file is readable by
// group or others.
func readKeysFile(path string, stdin io.Reader, warn io.Writer) (*unsealKeys, error) {
	if path == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("read keys from stdin: %w", err)
		}
		return parseKeys(b, "stdin")
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keys file %s does not exist", path)
		}
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		fmt.Fprintf(warn, "Warning: keys file %s is readable by group or others (mode %04o): chmod 600 %s\n", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKeys(b, "keys file "+path)
}
