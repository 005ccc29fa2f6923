package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// The container's limit becomes the runtime's soft limit, less a tenth for
// what the runtime does not count; $GOMEMLIMIT, or no usable limit, leaves
// the runtime as it is.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	for _, tc := range []struct {
		env  map[string]string
		want int64 // 0: unchanged
	}{
		{map[string]string{EnvMemoryLimit: "536870912"}, 483183819},
		{map[string]string{EnvMemoryLimit: "536870912", "GOMEMLIMIT": "300MiB"}, 0},
		{map[string]string{EnvMemoryLimit: ""}, 0},
		{map[string]string{EnvMemoryLimit: "512Mi"}, 0},
		{map[string]string{EnvMemoryLimit: "0"}, 0},
		{map[string]string{EnvMemoryLimit: "-5"}, 0},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		got, ok := applyMemoryLimit(func(k string) string { return tc.env[k] })
		now := debug.SetMemoryLimit(-1)
		switch {
		case tc.want == 0 && (ok || now != math.MaxInt64):
			t.Errorf("%v: set %d (runtime %d), want unchanged", tc.env, got, now)
		case tc.want != 0 && (!ok || got != tc.want || now != tc.want):
			t.Errorf("%v: set %d (runtime %d), want %d", tc.env, got, now, tc.want)
		}
	}
}
