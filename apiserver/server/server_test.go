package server

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/policy"
)

// Shutdown stops accepting, signals streams through Draining, and lets an
// in-flight call finish before Serve returns.
func TestGracefulShutdown(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := func(...connect.HandlerOption) Service {
		return Service{Name: "test.Slow", Path: "/test.Slow/", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "done")
		})}
	}
	cfg := DefaultConfig()
	cfg.ShutdownTimeout = 10 * time.Second
	s := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), auth.NewKeys("i", "a", key), nil, policy.Table{}, nil, nil, slow)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	got := make(chan string, 1)
	go func() {
		res, err := http.Post(url+"/test.Slow/Call", "text/plain", nil)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	select {
	case <-s.Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("Draining not closed after shutdown began")
	}
	// New connections are refused while the old call is still running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned before the in-flight call finished: %v", err)
	default:
	}
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("in-flight call got %q", b)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
