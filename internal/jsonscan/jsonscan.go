// Package jsonscan reads JSON in the admission webhook's hot path, where decoding a whole
// value through encoding/json's reflection costs more than the rest of a request: a walk
// of an object's members or an array's elements without decoding them (EachMember,
// EachElement, for JSON that is checked before or after), and a checking Reader with a
// Decoder for decoders written out per type, which accept what encoding/json accepts and
// decode as it does.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
)

// EachMember calls fn with the raw key (without quotes) and the raw value of each member
// of the JSON object b, in order, until fn returns false; each value is a subslice of b.
// On valid JSON the walk is exact (a number's value may keep the spaces after it); on
// anything else it may stop early or cut values elsewhere, and it never panics.
func EachMember(b []byte, fn func(key, value []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] == '}' {
		return
	}
	for {
		end := stringEnd(b, i)
		if end < 0 {
			return
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return
		}
		start := skipSpace(b, i+1)
		if i = valueEnd(b, start); i <= start {
			return
		}
		if !fn(key, b[start:i]) {
			return
		}
		if i = skipSpace(b, i); i >= len(b) || b[i] != ',' {
			return // the end of the object, or not JSON
		}
		i = skipSpace(b, i+1)
	}
}

// EachElement calls fn with each element of the JSON array b until fn returns false; as
// EachMember, it is exact on valid JSON and safe on anything else.
func EachElement(b []byte, fn func(e []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] == ']' {
		return
	}
	for {
		start := i
		if i = valueEnd(b, start); i <= start {
			return
		}
		if !fn(b[start:i]) {
			return
		}
		if i = skipSpace(b, i); i >= len(b) || b[i] != ',' {
			return
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at b[i], or -1.
func stringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the JSON value starting at b[i] (for a number or a
// literal: the index of the delimiter after it), or -1.
func valueEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

// KeyMatches reports whether encoding/json matches the raw object key to the field name:
// equal apart from case, after unescaping.
func KeyMatches(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return bytes.EqualFold(key, []byte(name))
	}
	var k string
	return json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k) == nil && strings.EqualFold(k, name)
}
