package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// AppendString writes s as a JSON string as encoding/json does: ", \\ and control
// characters escaped (\\n, \\r, \\t, \\b, \\f by name), <, > and & escaped for HTML, U+2028
// and U+2029 escaped for JavaScript, and each byte of invalid UTF-8 as U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most bytes of a string need no escaping: skip them 8 at a time (the agent's
		// configuration is long).
		for i+8 <= len(s) {
			if m := special8(s[i : i+8]); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i == len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// special8 returns the high bit of each of the 8 bytes of b that a JSON string cannot hold
// as is (and maybe of some after the first such), testing them at once as the bytes of a
// uint64 (with the bit tricks of "Bit Twiddling Hacks"): a byte is non-ASCII when its high
// bit is set, below 0x20 when it is zero but for its low five bits, and one of " and &
// (which differ in one bit), < and > (likewise) or a backslash when it is zero after an xor.
func special8(b string) uint64 {
	x := binary.LittleEndian.Uint64([]byte(b)) // the compiler does not copy b
	return (x | zeroBytes(x&^(ones*0x1f)) | zeroBytes((x|ones*0x04)^(ones*'&')) |
		zeroBytes((x|ones*0x02)^(ones*'>')) | zeroBytes(x^(ones*'\\'))) & (ones * 0x80)
}

const ones = 0x0101010101010101

// zeroBytes sets the high bit of the first byte of v that is zero (a byte of x equal to c
// is a zero byte of x^(ones*c)), and of no byte before it; bytes after it may be set too.
func zeroBytes(v uint64) uint64 { return (v - ones) &^ v }

// AppendStrings writes l as a JSON array of strings (see AppendString).
func AppendStrings(dst []byte, l []string) []byte {
	dst = append(dst, '[')
	for i, s := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}
