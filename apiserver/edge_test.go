package apiserver_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
)

// bomb is gzip of n zero bytes: ~4 MB inflating to ~4 GB for n = 4 GiB.
func bomb(t *testing.T, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for written := int64(0); written < n; written += int64(len(zeros)) {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func inflated(t *testing.T, env *apitest.Env) int64 {
	t.Helper()
	rec := httptest.NewRecorder()
	env.App.Server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m := regexp.MustCompile(`(?m)^codequest_request_inflated_bytes_total (\S+)$`).FindSubmatch(rec.Body.Bytes())
	if m == nil {
		t.Fatalf("no inflated bytes metric")
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(f)
}

// A compressed request is refused once it inflates past the limit, having
// inflated no more than that: over Connect (Content-Encoding) and gRPC
// (compressed envelope), on Login (anonymous) as on any RPC.
func TestGzipBombRefusedCheaply(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	limit := env.Config.HTTP.MaxRequestBytes
	body := bomb(t, 4<<30)
	if len(body) > int(limit) {
		t.Fatalf("the bomb is %d bytes, more than the %d-byte body limit", len(body), limit)
	}
	for _, proc := range []string{"/codequest.v1.AuthService/Login", "/codequest.v1.ProblemService/ListProblems"} {
		req, _ := http.NewRequest(http.MethodPost, env.URL+proc, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		res, err := env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), `"resource_exhausted"`) {
			t.Errorf("Connect %s: %d %s", proc, res.StatusCode, b)
		}

		frame := make([]byte, 5, 5+len(body))
		frame[0] = 1 // compressed
		binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
		frame = append(frame, body...)
		req, _ = http.NewRequest(http.MethodPost, env.URL+proc, bytes.NewReader(frame))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Grpc-Encoding", "gzip")
		req.Header.Set("Te", "trailers")
		res, err = env.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status := res.Trailer.Get("Grpc-Status")
		if status == "" {
			status = res.Header.Get("Grpc-Status")
		}
		if status != "8" { // RESOURCE_EXHAUSTED
			t.Errorf("gRPC %s: grpc-status %q (%s)", proc, status, res.Trailer.Get("Grpc-Message"))
		}
	}
	// Four refusals inflated at most the limit (and a byte) each, not
	// gigabytes.
	if got := inflated(t, env); got > 4*(limit+1) {
		t.Errorf("inflated %d bytes to refuse 4 bombs, limit %d each", got, limit)
	}
}

// With no --cors-origins, no origin is allowed.
func TestCORSNoOriginsAllowsNone(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, func(c *apiserver.Config) { c.HTTP.CORSOrigins = nil })
	pre, _ := http.NewRequest(http.MethodOptions, env.URL+"/codequest.v1.AuthService/Login", nil)
	pre.Header.Set("Origin", "https://evil.example")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	res, err := env.HTTP.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS allowed %q with no origins configured", got)
	}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/codequest.v1.AuthService/Login", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	res, err = env.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS allowed %q on a simple request", got)
	}
}
