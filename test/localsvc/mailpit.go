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

// MailpitSpec is what mailpit is started with: Spec.Port is the SMTP port.
// Its messages are always kept in Dir/mailpit.db; Persist changes nothing.
type MailpitSpec struct {
	Spec
	// Binary is the mailpit server (Tools.Path(ctx, "mailpit")).
	Binary string
	// HTTPPort serves the web UI and API (0: a free port).
	HTTPPort int
}

// Mailpit is a running mailpit: an SMTP server that accepts any
// credentials, or none, without TLS, and keeps every message for its web
// UI and API.
type Mailpit struct {
	// SMTPAddr is the SMTP server's host:port, URL the web UI's and API's
	// base URL.
	SMTPAddr string
	URL      string
	proc     *process
}

// Stop shuts the server down.
func (m *Mailpit) Stop(ctx context.Context) error {
	if err := m.proc.stop(ctx); err != nil {
		return fmt.Errorf("stop mailpit: %w", err)
	}
	return nil
}

// StartMailpit starts mailpit with its database in spec.Dir.
func StartMailpit(ctx context.Context, spec MailpitSpec) (*Mailpit, error) {
	if err := requireFile(spec.Binary, "build it: hack/tools.sh path mailpit"); err != nil {
		return nil, err
	}
	if err := makeDir("mailpit", spec.Dir); err != nil {
		return nil, err
	}
	m := &Mailpit{}
	err := onPorts(ctx, "mailpit", []int{spec.Port, spec.HTTPPort}, func(ports []int) error {
		m.SMTPAddr = net.JoinHostPort(spec.host(), strconv.Itoa(ports[0]))
		httpAddr := net.JoinHostPort(spec.host(), strconv.Itoa(ports[1]))
		m.URL = "http://" + httpAddr
		proc, err := startProcess(procSpec{
			name: "mailpit", path: spec.Binary, dir: spec.Dir, stopSig: syscall.SIGTERM,
			args: []string{"--smtp", m.SMTPAddr, "--listen", httpAddr,
				// Any credentials, or none, over plain SMTP.
				"--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
				"--database", filepath.Join(spec.Dir, "mailpit.db"),
				"--max", "0", // keep every message: tests look them up
				"--smtp-disable-rdns", "--disable-version-check", "--quiet"},
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

// ready checks that the API answers and the SMTP port accepts connections.
func (m *Mailpit) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/api/v1/info", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/v1/info: %s", resp.Status)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.SMTPAddr)
	if err != nil {
		return err
	}
	return conn.Close()
}
