// Package server assembles the API server: one port serving Connect, gRPC
// and gRPC-web (HTTP/1.1 and h2c), gRPC health and reflection, /healthz and
// /readyz, with CORS, request size limits (after decompression too),
// timeouts, request ids, client addresses, access logs and graceful
// shutdown; /metrics is served by its own handler, for a listener that is
// not the public one.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"

	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/clientip"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/apiserver/validation"
)

// Config is the HTTP side of the server.
type Config struct {
	Addr string
	// MetricsAddr is where /metrics is served, apart from the API ("" or
	// "0": nowhere).
	MetricsAddr string
	// CORSOrigins are the browser origins allowed by CORS; none when
	// empty.
	CORSOrigins []string
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (for per-client limits); none when empty.
	TrustedProxies []netip.Prefix
	// MaxRequestBytes bounds a request message, compressed or inflated.
	MaxRequestBytes int64
	// AuthConcurrency caps the anonymous AuthService calls that do real
	// work (Register, Login, ResetPassword, ...) running at once on this
	// replica; others wait AuthWait, then get resource_exhausted (0: no
	// cap).
	AuthConcurrency int
	AuthWait        time.Duration
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the defaults of `codequest serve`.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		MetricsAddr:     "127.0.0.1:9090",
		MaxRequestBytes: 4 << 20,
		AuthConcurrency: max(1, runtime.GOMAXPROCS(0)/2),
		AuthWait:        time.Second,
		ReadTimeout:     30 * time.Second,
		// Streams (WatchSubmission) outlive any write timeout: they are
		// bounded by their own deadlines instead.
		WriteTimeout:    0,
		IdleTimeout:     120 * time.Second,
		ShutdownTimeout: 30 * time.Second,
	}
}

// Service is one Connect service to mount: its path and handler, as
// returned by a generated New...Handler.
type Service struct {
	Name    string // fully-qualified, for health and reflection
	Path    string
	Handler http.Handler
}

// Mounter builds a service's handler with the server's handler options.
type Mounter func(opts ...connect.HandlerOption) Service

// Checker reports whether a dependency is ready.
type Checker func(ctx context.Context) error

// Server is the API server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	metrics  http.Handler
	drain    chan struct{}
	inflated prometheus.Counter
}

// New assembles the server. keys and states authenticate callers; table
// and members drive authorization; ready lists the dependencies /readyz
// checks; extra interceptors run after validation and authorization.
func New(cfg Config, log *slog.Logger, keys *auth.Keys, states auth.States, table policy.Table, members policy.Memberships,
	ready map[string]Checker, services ...Mounter,
) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	inflated := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "codequest_request_inflated_bytes_total", Help: "Bytes of compressed requests inflated.",
	})
	reg.MustRegister(inflated)
	opts := append(codecs(),
		connect.WithInterceptors(newMetrics(reg), validation.NewInterceptor(), policy.NewInterceptor(table, members)),
		connect.WithReadMaxBytes(int(cfg.MaxRequestBytes)),
		connect.WithCompressMinBytes(1024),
		limitedCompression(cfg.MaxRequestBytes, func(n int64) { inflated.Add(float64(n)) }),
	)

	mux := http.NewServeMux()
	var names []string
	for _, m := range services {
		s := m(opts...)
		mux.Handle(s.Path, s.Handler)
		names = append(names, s.Name)
	}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(names...)))
	reflector := grpcreflect.NewStaticReflector(append(names, grpchealth.HealthV1ServiceName,
		grpcreflect.ReflectV1ServiceName, grpcreflect.ReflectV1AlphaServiceName)...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status, body := http.StatusOK, ""
		for name, check := range ready {
			if err := check(ctx); err != nil {
				status = http.StatusServiceUnavailable
				body += name + ": not ready\n"
				log.WarnContext(ctx, "readiness check failed", "dependency", name, "error", err)
			} else {
				body += name + ": ok\n"
			}
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))

	var h http.Handler = mux
	h = auth.Middleware(keys, states, h)
	h = http.MaxBytesHandler(h, cfg.MaxRequestBytes+64<<10)
	h = withAuthGate(cfg.AuthConcurrency, cfg.AuthWait, h)
	h = clientip.Middleware(cfg.TrustedProxies, h)
	h = corsHandler(cfg.CORSOrigins).Handler(h)
	h = withAccessLog(log, h)
	h = withRequestID(h)
	return &Server{cfg: cfg, log: log, handler: h, metrics: metricsMux, drain: make(chan struct{}), inflated: inflated}
}

// MetricsHandler serves /metrics (Prometheus), for the metrics listener.
func (s *Server) MetricsHandler() http.Handler { return s.metrics }

// Handler returns the server's root handler (for tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Draining is closed when shutdown begins; long-lived streams select on it
// and end cleanly so that shutdown can finish.
func (s *Server) Draining() <-chan struct{} { return s.drain }

func corsHandler(origins []string) *cors.Cors {
	// rs/cors allows every origin when AllowedOrigins is empty; no origins
	// configured means none allowed.
	allowed := func(string) bool { return false }
	if len(origins) > 0 {
		set := map[string]bool{}
		for _, o := range origins {
			set[o] = true
		}
		allowed = func(o string) bool { return set[o] }
	}
	return cors.New(cors.Options{
		AllowOriginFunc: allowed,
		AllowedMethods:  []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{
			"Content-Type", "Connect-Protocol-Version", "Connect-Timeout-Ms", "Connect-Accept-Encoding",
			"Connect-Content-Encoding", "Grpc-Timeout", "X-Grpc-Web", "X-User-Agent", "Authorization",
			"X-Request-Id", "Idempotency-Key",
		},
		ExposedHeaders: []string{
			"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin", "Retry-After", "X-Request-Id",
			"Content-Encoding", "Connect-Content-Encoding",
		},
		MaxAge: 7200,
	})
}

// ServeMetrics serves /metrics on ln until ctx is cancelled.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.metrics, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("serving metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics: %w", err)
	}
	return nil
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// it stops accepting, tells streams to finish, and waits for in-flight
// calls up to the shutdown timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         p,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(s.drain) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
