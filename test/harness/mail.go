package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codequest-dev/codequest/test/localsvc"
)

// Mailbox is the binary's SMTP sink, shared by every test: send to
// SMTPHost:SMTPPort (any credentials, or none, without TLS) and read what
// arrived with the helpers, which filter by recipient, so each test must
// use recipient addresses of its own.
type Mailbox struct {
	SMTPHost string
	SMTPPort int
	APIURL   string // mailpit's web API, http://host:port
	http     *http.Client
}

// Message is a mail as the sink received it.
type Message struct {
	ID      string
	From    string
	To      []string
	Subject string
	Text    string // the text/plain body
	HTML    string // the text/html body
}

// SMTPAddr returns the SMTP server's host:port.
func (mb *Mailbox) SMTPAddr() string {
	return net.JoinHostPort(mb.SMTPHost, strconv.Itoa(mb.SMTPPort))
}

// WaitFor polls until a message to the address to has arrived and returns
// the first one, or fails when ctx ends.
func (mb *Mailbox) WaitFor(ctx context.Context, to string) (Message, error) {
	msgs, err := mb.WaitForN(ctx, to, 1)
	if err != nil {
		return Message{}, err
	}
	return msgs[0], nil
}

// WaitForN polls until at least n messages to the address to have arrived
// and returns them all, oldest first, or fails when ctx ends.
func (mb *Mailbox) WaitForN(ctx context.Context, to string, n int) ([]Message, error) {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ids, err := mb.search(ctx, to)
		if err == nil && len(ids) >= n {
			return mb.fetch(ctx, ids)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("wait for mail to %s: %w (last error: %v)", to, ctx.Err(), err)
			}
			return nil, fmt.Errorf("wait for mail to %s: %w (%d of %d arrived)", to, ctx.Err(), len(ids), n)
		case <-tick.C:
		}
	}
}

// Messages returns the messages to the address to that have arrived, oldest
// first.
func (mb *Mailbox) Messages(ctx context.Context, to string) ([]Message, error) {
	ids, err := mb.search(ctx, to)
	if err != nil {
		return nil, err
	}
	return mb.fetch(ctx, ids)
}

type mailAddress struct {
	Name    string
	Address string
}

// search returns the IDs of the messages to (or cc, or bcc) the address,
// oldest first.
func (mb *Mailbox) search(ctx context.Context, to string) ([]string, error) {
	// mailpit's to: matches substrings and only the To header; the exact
	// match below on every recipient is what counts.
	q := url.Values{"query": {"to:" + to}, "limit": {"1000"}}
	var res struct {
		Messages []struct {
			ID          string
			To, Cc, Bcc []mailAddress
		} `json:"messages"`
	}
	if err := mb.get(ctx, "/api/v1/search?"+q.Encode(), &res); err != nil {
		return nil, fmt.Errorf("search mail to %s: %w", to, err)
	}
	var ids []string
	for _, m := range res.Messages {
		for _, a := range slices.Concat(m.To, m.Cc, m.Bcc) {
			if strings.EqualFold(a.Address, to) {
				ids = append(ids, m.ID)
				break
			}
		}
	}
	slices.Reverse(ids) // mailpit lists newest first
	return ids, nil
}

func (mb *Mailbox) fetch(ctx context.Context, ids []string) ([]Message, error) {
	msgs := make([]Message, 0, len(ids))
	for _, id := range ids {
		var m struct {
			ID      string
			From    *mailAddress
			To      []mailAddress
			Subject string
			Text    string
			HTML    string
		}
		if err := mb.get(ctx, "/api/v1/message/"+url.PathEscape(id), &m); err != nil {
			return nil, fmt.Errorf("read mail %s: %w", id, err)
		}
		msg := Message{ID: m.ID, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
		if m.From != nil {
			msg.From = m.From.Address
		}
		for _, a := range m.To {
			msg.To = append(msg.To, a.Address)
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

func (mb *Mailbox) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mb.APIURL+path, nil)
	if err != nil {
		return err
	}
	client := mb.http
	if client == nil {
		client = http.DefaultClient // a Mailbox made by hand, on any mailpit
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// mailServer is the binary's mailpit: started, or the one of TEST_SMTP_ADDR
// and TEST_MAILPIT_URL.
type mailServer struct {
	box Mailbox
	srv *localsvc.Mailpit // nil if external
	dir string
}

// Mail returns the SMTP sink. It is shared: address mail to recipients
// unique to t.
func Mail(t testing.TB) *Mailbox {
	t.Helper()
	s, err := services.mail.get("mailpit", startMail)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	mb := s.box
	return &mb
}

// startMail starts the binary's mailpit, or uses TEST_SMTP_ADDR and
// TEST_MAILPIT_URL.
func startMail(ctx context.Context) (*mailServer, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	smtpAddr, apiURL := os.Getenv("TEST_SMTP_ADDR"), os.Getenv("TEST_MAILPIT_URL")
	if smtpAddr != "" || apiURL != "" {
		if smtpAddr == "" || apiURL == "" {
			return nil, fmt.Errorf("set both TEST_SMTP_ADDR and TEST_MAILPIT_URL, or neither")
		}
		host, port, err := splitHostPort(smtpAddr)
		if err != nil {
			return nil, fmt.Errorf("TEST_SMTP_ADDR: %w", err)
		}
		s := &mailServer{box: Mailbox{SMTPHost: host, SMTPPort: port, APIURL: strings.TrimSuffix(apiURL, "/"), http: client}}
		if err := s.ready(ctx); err != nil {
			return nil, fmt.Errorf("TEST_MAILPIT_URL: %w", err)
		}
		return s, nil
	}

	path, err := toolPath(ctx, "mailpit")
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("mailpit")
	if err != nil {
		return nil, err
	}
	srv, err := localsvc.StartMailpit(ctx, localsvc.MailpitSpec{Spec: localsvc.Spec{Dir: dir}, Binary: path})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	host, port, err := splitHostPort(srv.SMTPAddr)
	if err != nil {
		_ = srv.Stop(ctx)
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("mailpit SMTP address: %w", err)
	}
	return &mailServer{
		box: Mailbox{SMTPHost: host, SMTPPort: port, APIURL: srv.URL, http: client},
		srv: srv, dir: dir,
	}, nil
}

// ready checks that the API answers and the SMTP port accepts connections:
// an external mailpit's.
func (s *mailServer) ready(ctx context.Context) error {
	var info struct{ Version string }
	if err := s.box.get(ctx, "/api/v1/info", &info); err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.box.SMTPAddr())
	if err != nil {
		return err
	}
	return conn.Close()
}

// stop stops the started server and removes its folder.
func (s *mailServer) stop(ctx context.Context) error {
	var errs []error
	if s.srv != nil {
		errs = append(errs, s.srv.Stop(ctx))
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove mailpit folder: %w", err))
		}
	}
	return joinErrors("mailpit", errs)
}

func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", portStr, err)
	}
	return host, port, nil
}
