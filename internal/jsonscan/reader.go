package jsonscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the kind of the next JSON value.
type Kind uint8

// The kinds of JSON values; Invalid when there is no value (the input ended, or the
// reader stopped at a problem).
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Object
	Array
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "bool"
	case Number:
		return "number"
	case String:
		return "string"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "invalid value"
}

// maxDepth is encoding/json's limit on nested objects and arrays.
const maxDepth = 10000

// Reader reads one JSON document in a single pass: the caller decodes the values it
// wants and skips the others, and the reader checks everything it passes over as
// encoding/json does (the same grammar, nesting limit and string unescaping), so that a
// document the reader accepts is one json.Valid accepts (FuzzReader). The first problem
// stops the reading and is kept (Err): from then on every method returns zero values and
// no iteration goes on, so a decoder need not check after each call.
//
// The caller reads exactly one value (or skips it) for each member or element it is
// handed; Kind tells what comes next.
type Reader struct {
	b     []byte
	i     int
	depth int
	err   error
}

// NewReader returns a reader of the JSON document b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Reset makes r read b from the start.
func (r *Reader) Reset(b []byte) { *r = Reader{b: b} }

// Err is the first problem met, or nil.
func (r *Reader) Err() error { return r.err }

// Fail stops the reading with err (a problem the caller found in a value, such as a type
// it cannot take), unless the reader has stopped already.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Offset is the index in the document of the next byte to read.
func (r *Reader) Offset() int { return r.i }

// Source is the document being read.
func (r *Reader) Source() []byte { return r.b }

func (r *Reader) syntax(msg string) {
	r.Fail(fmt.Errorf("invalid JSON at offset %d: %s", r.i, msg))
}

func (r *Reader) unexpected(context string) {
	if r.i >= len(r.b) {
		r.Fail(errors.New("unexpected end of JSON input"))
		return
	}
	r.syntax(fmt.Sprintf("invalid character %s %s", quoteChar(r.b[r.i]), context))
}

// quoteChar formats c as encoding/json's errors do.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := fmt.Sprintf("%q", c)
	return "'" + s[1:len(s)-1] + "'"
}

func (r *Reader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// Kind skips white space and tells the kind of the next value; Invalid (and a stopped
// reader) when no value starts there.
func (r *Reader) Kind() Kind {
	if r.err != nil {
		return Invalid
	}
	r.space()
	if r.i >= len(r.b) {
		r.unexpected("")
		return Invalid
	}
	switch c := r.b[r.i]; c {
	case '{':
		return Object
	case '[':
		return Array
	case '"':
		return String
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return Number
		}
	}
	r.unexpected("looking for beginning of value")
	return Invalid
}

// literal consumes the literal word (true, false or null) at the reader's position.
func (r *Reader) literal(word string) bool {
	if len(r.b)-r.i >= len(word) && string(r.b[r.i:r.i+len(word)]) == word {
		r.i += len(word)
		return true
	}
	for j := 0; j < len(word); j++ {
		if r.i+j >= len(r.b) {
			r.i += j
			r.unexpected("")
			return false
		}
		if r.b[r.i+j] != word[j] {
			r.i += j
			r.unexpected("in literal " + word + " (expecting " + quoteChar(word[j]) + ")")
			return false
		}
	}
	return false
}

// Null consumes a null and reports true when the next value is null.
func (r *Reader) Null() bool {
	if r.Kind() != Null {
		return false
	}
	return r.literal("null")
}

// Bool reads a true or false (the next value's kind is Bool).
func (r *Reader) Bool() bool {
	if r.Kind() != Bool {
		return false
	}
	if r.b[r.i] == 't' {
		return r.literal("true")
	}
	r.literal("false")
	return false
}

// Number reads a number (the next value's kind is Number) and returns it as written.
func (r *Reader) Number() []byte {
	if r.Kind() != Number {
		return nil
	}
	start, b, i := r.i, r.b, r.i
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		n := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		r.i = i
		r.unexpected("in numeric literal")
		return nil
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			r.i = i
			r.unexpected("after decimal point in numeric literal")
			return nil
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			r.i = i
			r.unexpected("in exponent of numeric literal")
			return nil
		}
	}
	r.i = i
	return b[start:i]
}

// stringEnd checks the string whose opening quote is at b[i] and returns the index after
// its closing quote and whether it needs unescaping (escapes, or bytes that are not UTF-8).
func (r *Reader) stringEnd() (end int, plain bool) {
	b := r.b
	plain = true
	for i := r.i + 1; i < len(b); i++ {
		// Most bytes of a string are none of the four kinds below: skip them 8 at a time
		// (annotations, templates and the agent's configuration are long strings).
		for i+8 <= len(b) {
			if m := stringSpecial8(binary.LittleEndian.Uint64(b[i : i+8])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				r.i = i
				r.unexpected("")
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for j := 1; j <= 4; j++ {
					if i+j >= len(b) {
						r.i = i + j
						r.unexpected("")
						return -1, false
					}
					if !isHex(b[i+j]) {
						r.i = i + j
						r.unexpected("in \\u hexadecimal character escape")
						return -1, false
					}
				}
				i += 4
			default:
				r.i = i
				r.unexpected("in string escape code")
				return -1, false
			}
		case c < 0x20:
			r.i = i
			r.unexpected("in string literal")
			return -1, false
		case c >= utf8.RuneSelf:
			if plain {
				// a valid sequence stays as it is; anything else is replaced
				ru, size := utf8.DecodeRune(b[i:])
				if ru == utf8.RuneError && size == 1 {
					plain = false
				} else {
					i += size - 1
				}
			}
		}
	}
	r.i = len(b)
	r.unexpected("")
	return -1, false
}

// stringSpecial8 sets the high bit of the first byte of x (in memory order) that ends or
// interrupts a plain run of a JSON string: a quote, a backslash, a control character or a
// byte that is not ASCII (see special8 for the bit tricks); bytes after it may be set too.
func stringSpecial8(x uint64) uint64 {
	return (x | zeroBytes(x&^(ones*0x1f)) | zeroBytes(x^(ones*'"')) | zeroBytes(x^(ones*'\\'))) & (ones * 0x80)
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// StringBytes reads a string (the next value's kind is String) and returns its content as
// encoding/json unquotes it: escapes resolved, bytes that are not UTF-8 replaced by
// U+FFFD. The result shares the document's memory when the string needs no unescaping.
func (r *Reader) StringBytes() []byte {
	if r.Kind() != String {
		return nil
	}
	end, plain := r.stringEnd()
	if end < 0 {
		return nil
	}
	raw := r.b[r.i+1 : end-1]
	r.i = end
	if plain {
		return raw
	}
	return unquote(raw)
}

// String reads a string as StringBytes does, into a new string.
func (r *Reader) String() string { return string(r.StringBytes()) }

// unquote resolves the escapes of a checked string's content and replaces what is not
// UTF-8, as encoding/json does.
func unquote(s []byte) []byte {
	out := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'u':
				ru := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(ru) {
					ru2 := rune(-1)
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						ru2 = hex4(s[i+2:])
					}
					if dec := utf16.DecodeRune(ru, ru2); dec != unicode.ReplacementChar {
						i += 6
						out = utf8.AppendRune(out, dec)
						continue
					}
					ru = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, ru)
				continue
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			default: // " \ /
				out = append(out, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			ru, size := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, ru)
			i += size
		}
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Raw reads the next value, whatever it is, and returns it as written (a part of the
// document).
func (r *Reader) Raw() []byte {
	if r.Kind() == Invalid {
		return nil
	}
	start := r.i
	r.Skip()
	if r.err != nil {
		return nil
	}
	return r.b[start:r.i]
}

// Skip reads the next value and checks it.
func (r *Reader) Skip() {
	switch r.Kind() {
	case Null:
		r.literal("null")
	case Bool:
		r.Bool()
	case Number:
		r.Number()
	case String:
		if end, _ := r.stringEnd(); end > 0 {
			r.i = end
		}
	case Object:
		for m := r.Object(); m.Next(); {
			r.Skip()
		}
	case Array:
		for a := r.Array(); a.Next(); {
			r.Skip()
		}
	}
}

// Members iterates over an object's members; see Reader.Object.
type Members struct {
	r       *Reader
	n       int
	key     []byte
	escaped bool
}

// Object starts reading an object (the next value's kind is Object):
//
//	for m := r.Object(); m.Next(); { key := m.Key(); ...read or skip the value... }
func (r *Reader) Object() Members {
	if r.Kind() != Object {
		return Members{n: -1}
	}
	r.i++
	if r.depth++; r.depth > maxDepth {
		r.syntax("exceeded max depth")
	}
	return Members{r: r}
}

// Next reads the next member's key, or the end of the object (false).
func (m *Members) Next() bool {
	r := m.r
	if !r.next(&m.n, '}', "after object key:value pair") {
		return false
	}
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		r.unexpected("looking for beginning of object key string")
		return false
	}
	end, plain := r.stringEnd()
	if end < 0 {
		return false
	}
	m.key, m.escaped = r.b[r.i+1:end-1], !plain
	if !plain {
		m.key = unquote(m.key)
	}
	r.i = end
	r.space()
	if r.i >= len(r.b) || r.b[r.i] != ':' {
		r.unexpected("after object key")
		return false
	}
	r.i++
	return true
}

// next moves past the comma before the next item of an object or array, of which n items
// were read (-1: the end was read), or reads its end (close) and reports false.
func (r *Reader) next(n *int, close byte, after string) bool {
	if *n < 0 || r.err != nil {
		return false
	}
	r.space()
	switch {
	case r.i < len(r.b) && r.b[r.i] == close:
		r.i++
		r.depth--
		*n = -1
		return false
	case *n == 0:
	case r.i < len(r.b) && r.b[r.i] == ',':
		r.i++
	default:
		r.unexpected(after)
		return false
	}
	*n++
	return true
}

// Key is the current member's key, unquoted as encoding/json unquotes it.
func (m *Members) Key() []byte { return m.key }

// Escaped reports whether the current key was written with escapes (or with bytes that
// are not UTF-8, which unquoting replaces).
func (m *Members) Escaped() bool { return m.escaped }

// Elements iterates over an array's elements; see Reader.Array.
type Elements struct {
	r *Reader
	n int
}

// Array starts reading an array (the next value's kind is Array):
//
//	for a := r.Array(); a.Next(); { ...read or skip the element... }
func (r *Reader) Array() Elements {
	if r.Kind() != Array {
		return Elements{n: -1}
	}
	r.i++
	if r.depth++; r.depth > maxDepth {
		r.syntax("exceeded max depth")
	}
	return Elements{r: r}
}

// Next moves to the next element, or reads the end of the array (false).
func (a *Elements) Next() bool { return a.r.next(&a.n, ']', "after array element") }

// Index is the current element's index.
func (a *Elements) Index() int { return a.n - 1 }

// End checks that nothing but white space follows the document's value and returns the
// reader's error.
func (r *Reader) End() error {
	if r.err != nil {
		return r.err
	}
	r.space()
	if r.i < len(r.b) {
		r.unexpected("after top-level value")
	}
	return r.err
}
