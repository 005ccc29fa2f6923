// Command server is the program of the image the real-node tests build
// (test/real): a static binary without dependencies.
//
//	server serve            HTTP on $PORT (8080): / says hello, /healthz is 503
//	                        for the first $READY_AFTER (2s) then 200, /probes
//	                        counts the /healthz requests
//	server get URL          GET URL, print the body, exit 1 unless 200
//	server write PATH TEXT  write TEXT to PATH
//	server check PATH TEXT  exit 1 unless PATH holds TEXT
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: server serve|get|write|check")
	}
	switch os.Args[1] {
	case "serve":
		serve()
	case "get":
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%s\n", body)
		if resp.StatusCode != http.StatusOK {
			fail(resp.Status)
		}
	case "write":
		if err := os.WriteFile(os.Args[2], []byte(os.Args[3]), 0o644); err != nil {
			fail(err.Error())
		}
		fmt.Println("wrote", os.Args[2])
	case "check":
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		if string(b) != os.Args[3] {
			fail(fmt.Sprintf("%s holds %q, want %q", os.Args[2], b, os.Args[3]))
		}
		fmt.Printf("%s holds %q\n", os.Args[2], b)
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func serve() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	readyAfter := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv("READY_AFTER")); err == nil {
		readyAfter = d
	}
	started := time.Now()
	host, _ := os.Hostname()
	var probes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if time.Since(started) < readyAfter {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/probes", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, probes.Load())
	})
	fmt.Println("serving on :" + port)
	if err := http.ListenAndServe(":"+port, mux); err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "server:", msg)
	os.Exit(1)
}
