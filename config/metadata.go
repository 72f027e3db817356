package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// MaxMetadata is the largest /etc/metadata.json accepted.
const MaxMetadata = 1 << 20

// Metadata is /etc/metadata.json: {"env": {...}, "working_dir": "/app"}.
type Metadata struct {
	Env     []string // KEY=value, sorted by key
	Workdir string
}

// ParseMetadata decodes the file. Each refused part is skipped with a
// warning: a file that is too large or not JSON gives nothing at all.
func ParseMetadata(data []byte) (Metadata, []string) {
	var m Metadata
	var warn []string
	w := func(f string, a ...any) { warn = append(warn, fmt.Sprintf("metadata: "+f, a...)) }
	if len(data) > MaxMetadata {
		w("%d bytes, more than %d: ignored", len(data), MaxMetadata)
		return m, warn
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		w("not a JSON object: %v", err)
		return m, warn
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		switch k {
		case "env":
			var env map[string]string
			if err := json.Unmarshal(top[k], &env); err != nil {
				w("\"env\" is not an object of strings: ignored")
				continue
			}
			m.Env = validEnvMap(env, w)
		case "working_dir":
			var d string
			if err := json.Unmarshal(top[k], &d); err != nil {
				w("\"working_dir\" is not a string: ignored")
			} else if err := ValidPath(d); err != nil {
				w("working_dir ignored: %v", err)
			} else {
				m.Workdir = d
			}
		default:
			w("unknown field %q ignored", k)
		}
	}
	return m, warn
}

func validEnvMap(env map[string]string, w func(string, ...any)) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if err := ValidEnv(k, env[k]); err != nil {
			w("env %q ignored: %v", k, err)
			continue
		}
		out = append(out, k+"="+env[k])
	}
	return out
}

// Merge builds the stage environment: base (init's own), then metadata,
// then the kernel command line, later layers winning; the order of first
// appearance is kept. It returns the environment and the working directory.
func Merge(base []string, meta Metadata, cmd Cmdline) ([]string, string) {
	var keys []string
	vals := map[string]string{}
	for _, layer := range [][]string{base, meta.Env, cmd.Env} {
		for _, kv := range layer {
			k, v, _ := strings.Cut(kv, "=")
			if _, ok := vals[k]; !ok {
				keys = append(keys, k)
			}
			vals[k] = v
		}
	}
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+vals[k])
	}
	dir := meta.Workdir
	if cmd.Workdir != "" {
		dir = cmd.Workdir
	}
	return env, dir
}
