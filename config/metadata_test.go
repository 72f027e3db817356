package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestMetadataDecoder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    string
		want  Metadata
		warns []string
	}{
		{"both", `{"env": {"B": "2", "A": "1"}, "working_dir": "/app"}`, Metadata{Env: []string{"A=1", "B=2"}, Workdir: "/app"}, nil},
		{"escapes", `{"env": {"M": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00"}}`, Metadata{Env: []string{"M=a\"b\\c/d\n\té😀"}}, nil},
		{"blanks", " \n\t{ \"env\" : { } }\r\n", Metadata{}, nil},
		{"unknown fields of every type", `{"a": [1, -2.5e3, {"b": [true, false, null]}], "c": "x", "env": {"K": "v"}}`,
			Metadata{Env: []string{"K=v"}}, []string{`unknown field "a"`, `unknown field "c"`}},
		{"env not strings", `{"env": {"A": 1}, "working_dir": "/x"}`, Metadata{Workdir: "/x"}, []string{`"env" is not an object of strings`}},
		{"env an array", `{"env": ["A=1"]}`, Metadata{}, []string{`"env" is not an object of strings`}},
		{"working_dir a number", `{"working_dir": 5}`, Metadata{}, []string{`"working_dir" is not a string`}},
		{"relative working_dir", `{"working_dir": "app"}`, Metadata{}, []string{"not absolute"}},
		{"bad key", `{"env": {"1X": "a", "OK": "b"}}`, Metadata{Env: []string{"OK=b"}}, []string{`env "1X" ignored`}},
		{"NUL in a value", `{"env": {"N": "a\u0000b"}}`, Metadata{}, []string{"NUL"}},
		{"last duplicate wins", `{"env": {"A": "1", "A": "2"}}`, Metadata{Env: []string{"A=2"}}, nil},
		{"not an object", `["env"]`, Metadata{}, []string{"not a JSON object"}},
		{"trailing data", `{} {}`, Metadata{}, []string{"not a JSON object: offset 3: data after the object"}},
		{"truncated", `{"env": {"A": "1"`, Metadata{}, []string{"not a JSON object"}},
		{"unterminated string", `{"env": {"A": "1}}`, Metadata{}, []string{"unterminated string"}},
		{"raw newline in a string", "{\"a\": \"x\ny\"}", Metadata{}, []string{"control character"}},
		{"bad number", `{"a": 01}`, Metadata{}, []string{"not a JSON object"}},
		{"trailing comma", `{"a": 1,}`, Metadata{}, []string{"not a JSON object"}},
		{"empty", ``, Metadata{}, []string{"not a JSON object"}},
		{"too large", `{"a": "` + strings.Repeat("x", MaxMetadata) + `"}`, Metadata{}, []string{"more than 1048576"}},
		{"nested as deep as encoding/json takes", `{"a": ` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
			Metadata{}, []string{`unknown field "a"`}},
		{"nested deeper", `{"a": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, Metadata{},
			[]string{"nested deeper than 10000"}},
	} {
		got, warns := ParseMetadata([]byte(tc.in))
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
		wantWarnings(t, warns, tc.warns)
	}
}

// reference is what encoding/json makes of a metadata file: the env and
// working_dir that ParseMetadata must agree with, or ok false for a file
// that is not a JSON object.
func reference(data []byte) (env map[string]string, dir string, ok bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || top == nil {
		return nil, "", false
	}
	if json.Unmarshal(top["env"], &env) != nil {
		env = nil
	}
	json.Unmarshal(top["working_dir"], &dir)
	return env, dir, true
}

// FuzzParseMetadata compares ParseMetadata with encoding/json: the same
// files are refused, and the same env and working_dir come out of the
// others (as far as validation lets them through).
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{`{"env": {"A": "1", "B": "x\u00e9"}, "working_dir": "/srv"}`, `{"a": [1, {"b": null}], "env": {}}`,
		`{"env": {"A": "\ud800"}}`, `{"env": {"A": "\ud83d\ude00"}}`, "{\"env\":{\"A\":\"\xb5\"}}", `{"x": -0.5e-7}`, ` {} `, `{"env": 1}`, `[]`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxMetadata {
			return
		}
		got, warns := ParseMetadata(data)
		env, dir, ok := reference(data)
		refused := len(warns) == 1 && strings.Contains(warns[0], "not a JSON object")
		if refused != !ok {
			t.Fatalf("%q: refused %v (%q), encoding/json ok %v", data, refused, warns, ok)
		}
		for _, kv := range got.Env {
			k, v, _ := strings.Cut(kv, "=")
			if env[k] != v {
				t.Fatalf("%q: env %s=%q, encoding/json %q", data, k, v, env[k])
			}
		}
		if got.Workdir != "" && got.Workdir != dir {
			t.Fatalf("%q: working_dir %q, encoding/json %q", data, got.Workdir, dir)
		}
	})
}
