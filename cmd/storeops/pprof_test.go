package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

func TestPprofListenLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "example.com:6060", "6060"} {
		if err := servePprof(ctx, addr, log); err == nil {
			t.Errorf("--pprof-listen %q accepted", addr)
		}
	}
	for _, addr := range []string{"", "127.0.0.1:0", "localhost:0"} {
		if err := servePprof(ctx, addr, log); err != nil {
			t.Errorf("--pprof-listen %q: %v", addr, err)
		}
	}
}
