package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

var objectSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a" : 1 , "b":[1,{"c":"}"}] ,"d":"\"}" }`, `{"a\u0062":null,"a":true}`,
	`{"x":{"y":{"z":[[],{}]}},"n":-1.5e3,"s":"\\"}`, `[1,2]`, `"s"`, `{"a":1`, `{"a"}`, `{"a":"\`, ``,
	`{"request":{"uid":"u","object":{"metadata":{}}}}`,
}

// members lists an object's members as encoding/json reads them: unescaped keys, raw values.
func members(t *testing.T, b []byte) (keys []string, values []string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		var raw json.RawMessage
		require.NoError(t, dec.Decode(&raw))
		keys, values = append(keys, k.(string)), append(values, string(raw))
	}
	return keys, values
}

// FuzzEachMember: on a valid JSON object the walk gives encoding/json's members, in order;
// on any input it ends, does not panic, and hands out subslices of the input.
func FuzzEachMember(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var keys, values []string
		EachMember(b, func(key, value []byte) bool {
			require.True(t, within(b, key) && within(b, value))
			var k string // as encoding/json unquotes it (escapes, invalid UTF-8)
			_ = json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &k)
			keys, values = append(keys, k), append(values, string(bytes.TrimRight(value, " \t\r\n")))
			return true
		})
		EachElement(b, func(e []byte) bool {
			require.True(t, within(b, e))
			return true
		})
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || m == nil {
			return
		}
		wantKeys, wantValues := members(t, b)
		require.Equal(t, wantKeys, keys, "%s", b)
		require.Equal(t, wantValues, values, "%s", b)
	})
}

// FuzzEachElement: on a valid JSON array the walk gives encoding/json's elements.
func FuzzEachElement(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "]" ,{"a":[2]} ,[[]], null ] `, `[`, `["\"",true]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []string
		EachElement(b, func(e []byte) bool {
			got = append(got, string(bytes.TrimRight(e, " \t\r\n")))
			return true
		})
		var want []json.RawMessage
		if json.Unmarshal(b, &want) != nil || want == nil {
			return
		}
		require.Len(t, got, len(want), "%s", b)
		for i := range want {
			require.Equal(t, string(want[i]), got[i], "%s", b)
		}
	})
}

// FuzzKeyMatches: KeyMatches agrees with encoding/json on which key fills a field.
func FuzzKeyMatches(f *testing.F) {
	for _, s := range []string{`request`, `Request`, `REQUEST`, `r\u0065quest`, `requesT `, `\u212a`, `req`, `\"`, `requeſt`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		doc := []byte(`{"` + key + `":1}`)
		var v struct {
			Request int `json:"request"`
		}
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		var got bool
		EachMember(doc, func(k, _ []byte) bool {
			got = KeyMatches(k, "request")
			return false
		})
		require.Equal(t, v.Request == 1, got, "key %q", key)
	})
}

func TestKeyMatches(t *testing.T) {
	require.True(t, KeyMatches([]byte("object"), "object"))
	require.True(t, KeyMatches([]byte("OBJECT"), "object"))
	require.True(t, KeyMatches([]byte(`\u006fbject`), "object"))
	require.False(t, KeyMatches([]byte("objects"), "object"))
	require.False(t, KeyMatches([]byte(`\u006`), "object"))
}

// within reports whether sub is a subslice of b.
func within(b, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	off := cap(b) - cap(sub)
	return off >= 0 && off+len(sub) <= len(b) && &b[off] == &sub[0]
}
