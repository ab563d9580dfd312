package jsonscan

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decoder decodes a JSON document into Go values by code written out for each type, with
// encoding/json's rules, over a Reader: a key fills the field it names exactly, else the
// one it names apart from case; the last of repeated keys wins, and a repeated list, map
// or object is decoded over what the one before left (elements and entries merge); null
// clears pointers, lists and maps and leaves other values as they are; a value of the
// wrong type stops the decoding with an error that names the field
// ("spec.containers.name: a JSON number where a string belongs").
//
// A type's decoder reads its members with Object and each value with the methods below
// (or Skip); the caller checks End once at the end.
type Decoder struct {
	Reader
	// Inexact counts the object members met that fill no field exactly: another
	// spelling of a field's name, a name written with escapes, or no field at all.
	Inexact int
	path    [12]string // the names of the fields being read, for errors
	depth   int
}

// NewDecoder returns a decoder of the JSON document b.
func NewDecoder(b []byte) *Decoder {
	d := &Decoder{}
	d.Reset(b)
	return d
}

// Reset makes d decode b from the start.
func (d *Decoder) Reset(b []byte) { *d = Decoder{}; d.Reader.Reset(b) }

// Field is the path of field names to the value being read ("spec.containers.name").
func (d *Decoder) Field() string {
	return strings.Join(d.path[:min(d.depth, len(d.path))], ".")
}

// Within reads a value with read, with name added to the field path of errors.
func (d *Decoder) Within(name string, read func()) {
	if d.depth < len(d.path) {
		d.path[d.depth] = name
	}
	d.depth++
	read()
	d.depth--
}

// TypeError stops the decoding: the next value, of kind k, is not the want that the
// field takes ("a string").
func (d *Decoder) TypeError(k Kind, want string) {
	if k == Invalid {
		return // the reader stopped already, with its own error
	}
	name := d.Field()
	if name == "" {
		name = "the document"
	}
	d.Fail(fmt.Errorf("%s: a JSON %s where %s belongs", name, k, want))
}

// Object reads an object into a struct whose fields have the JSON names names: fill reads
// the value of each member that fills a field (its name is one of names), the others are
// skipped. null leaves the struct as it is.
func (d *Decoder) Object(names []string, fill func(name string)) {
	switch k := d.Kind(); k {
	case Null:
		d.Null()
	case Object:
		for m := d.Reader.Object(); m.Next(); {
			name := d.member(&m, names)
			if name == "" {
				d.Skip()
				continue
			}
			d.Within(name, func() { fill(name) })
		}
	default:
		d.TypeError(k, "an object")
	}
}

// member returns the name that the current key fills, or "".
func (d *Decoder) member(m *Members, names []string) string {
	k := m.Key()
	for _, n := range names {
		if string(k) == n {
			if m.Escaped() {
				d.Inexact++
			}
			return n
		}
	}
	d.Inexact++
	for _, n := range names {
		if foldEqual(k, n) {
			return n
		}
	}
	return ""
}

// foldEqual is bytes.EqualFold(k, []byte(n)) (encoding/json's matching apart from case)
// for an ASCII name.
func foldEqual(k []byte, n string) bool {
	if len(k) != len(n) {
		// a multi-byte rune may fold to an ASCII letter (U+212A KELVIN SIGN to k)
		return !isASCII(k) && bytes.EqualFold(k, []byte(n))
	}
	for i := 0; i < len(k); i++ {
		a, b := k[i], n[i]
		if a == b {
			continue
		}
		if a >= utf8.RuneSelf {
			return bytes.EqualFold(k, []byte(n))
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Pointer reads into the value *p points to, allocating it first; null makes *p nil.
func Pointer[T any](d *Decoder, p **T, read func(*T)) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(T)
	}
	read(*p)
}

// List reads a list into a slice as encoding/json does: an element decodes over the one
// already at its index (up to the slice's capacity), the slice is cut to the number of
// elements, an empty list makes a new empty slice and null makes it nil.
func List[T any](d *Decoder, s *[]T, elem func(*T)) {
	switch k := d.Kind(); k {
	case Null:
		d.Null()
		*s = nil
	case Array:
		l := *s
		i := 0
		for a := d.Array(); a.Next(); i++ {
			switch {
			case i >= cap(l):
				var zero T
				l = append(l, zero)
			case i >= len(l):
				l = l[:i+1]
			}
			elem(&l[i])
		}
		if i < len(l) {
			l = l[:i]
		}
		if i == 0 {
			l = []T{}
		}
		*s = l
	default:
		d.TypeError(k, "a list")
	}
}

// Map reads an object into a map with string keys, null as nil; entries merge into a
// map already there. elem reads each value over V's zero value and returns it.
func Map[V any](d *Decoder, m *map[string]V, elem func(V) V) {
	switch k := d.Kind(); k {
	case Null:
		d.Null()
		*m = nil
	case Object:
		if *m == nil {
			*m = map[string]V{}
		}
		for it := d.Reader.Object(); it.Next(); {
			key := string(it.Key())
			var v V
			d.Within(key, func() { v = elem(v) })
			(*m)[key] = v
		}
	default:
		d.TypeError(k, "an object")
	}
}

// Str reads a string (null leaves *s as it is).
func (d *Decoder) Str(s *string) {
	switch k := d.Kind(); k {
	case String:
		*s = d.String()
	case Null:
		d.Null()
	default:
		d.TypeError(k, "a string")
	}
}

// StrPtr reads a *string.
func (d *Decoder) StrPtr(p **string) { Pointer(d, p, d.Str) }

// Strs reads a []string.
func (d *Decoder) Strs(s *[]string) { List(d, s, d.Str) }

// StrMap reads a map[string]string.
func (d *Decoder) StrMap(m *map[string]string) {
	Map(d, m, func(s string) string { d.Str(&s); return s })
}

// Boolean reads a bool.
func (d *Decoder) Boolean(v *bool) {
	switch k := d.Kind(); k {
	case Bool:
		*v = d.Bool()
	case Null:
		d.Null()
	default:
		d.TypeError(k, "true or false")
	}
}

// BoolPtr reads a *bool.
func (d *Decoder) BoolPtr(p **bool) { Pointer(d, p, d.Boolean) }

// Integer reads a number that is an integer of the given bits (signed, or unsigned), as
// encoding/json reads one into an int or uint type; ok is false for null.
func (d *Decoder) Integer(bits int, unsigned bool) (n int64, ok bool) {
	switch k := d.Kind(); k {
	case Number:
		lit := d.Number()
		var err error
		if unsigned {
			var u uint64
			u, err = strconv.ParseUint(string(lit), 10, bits)
			n = int64(u)
		} else {
			n, err = strconv.ParseInt(string(lit), 10, bits)
		}
		if err != nil {
			d.Fail(fmt.Errorf("%s: a JSON number %s where an integer belongs", d.Field(), lit))
			return 0, false
		}
		return n, true
	case Null:
		d.Null()
	default:
		d.TypeError(k, "an integer")
	}
	return 0, false
}

// Int32 reads an int32.
func (d *Decoder) Int32(v *int32) {
	if n, ok := d.Integer(32, false); ok {
		*v = int32(n)
	}
}

// Int64 reads an int64.
func (d *Decoder) Int64(v *int64) {
	if n, ok := d.Integer(64, false); ok {
		*v = n
	}
}

// Int64Ptr reads an *int64.
func (d *Decoder) Int64Ptr(p **int64) { Pointer(d, p, d.Int64) }

// RawValue reads a json.RawMessage: the value as written, null included.
func (d *Decoder) RawValue(v *[]byte) {
	if b := d.Raw(); b != nil {
		*v = append((*v)[:0], b...)
	}
}
