package localsvc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
)

// MinIOSpec is what MinIO is started with. Its data is always kept in
// Dir/data; Persist changes nothing.
type MinIOSpec struct {
	Spec
	// Binary is the minio server (Tools.Path(ctx, "minio")).
	Binary string
	// AccessKey and SecretKey are the root credentials (the secret has at
	// least 8 characters).
	AccessKey string
	SecretKey string
	// Console turns the web console on, at ConsolePort (0: a free port).
	Console     bool
	ConsolePort int
}

// MinIO is a running MinIO server.
type MinIO struct {
	// Endpoint is the S3 API's host:port; ConsoleURL the web console's
	// base URL, if it is on.
	Endpoint   string
	ConsoleURL string
	proc       *process
}

// Stop shuts the server down.
func (m *MinIO) Stop(ctx context.Context) error {
	if err := m.proc.stop(ctx); err != nil {
		return fmt.Errorf("stop minio: %w", err)
	}
	return nil
}

// StartMinIO starts a single-drive MinIO on spec.Dir/data.
func StartMinIO(ctx context.Context, spec MinIOSpec) (*MinIO, error) {
	if err := requireFile(spec.Binary, "build it: hack/tools.sh path minio"); err != nil {
		return nil, err
	}
	if err := makeDir("minio", spec.Dir); err != nil {
		return nil, err
	}
	browser := "off"
	if spec.Console {
		browser = "on"
	}
	m := &MinIO{}
	err := onPorts(ctx, "minio", []int{spec.Port, spec.ConsolePort}, func(ports []int) error {
		m.Endpoint = net.JoinHostPort(spec.host(), strconv.Itoa(ports[0]))
		console := net.JoinHostPort(spec.host(), strconv.Itoa(ports[1]))
		if spec.Console {
			m.ConsoleURL = "http://" + console
		}
		proc, err := startProcess(procSpec{
			name: "minio", path: spec.Binary, dir: spec.Dir, stopSig: syscall.SIGTERM,
			env: []string{"MINIO_ROOT_USER=" + spec.AccessKey, "MINIO_ROOT_PASSWORD=" + spec.SecretKey,
				"MINIO_BROWSER=" + browser, "MINIO_UPDATE=off", "HOME=" + spec.Dir},
			args: []string{"server", "--quiet", "--address", m.Endpoint,
				"--console-address", console, filepath.Join(spec.Dir, "data")},
		})
		if err != nil {
			return err
		}
		if err := proc.waitReady(ctx, m.ready); err != nil {
			_ = proc.stop(context.WithoutCancel(ctx))
			return err
		}
		m.proc = proc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ready asks MinIO's health endpoint whether it serves requests.
func (m *MinIO) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.Endpoint+"/minio/health/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}
