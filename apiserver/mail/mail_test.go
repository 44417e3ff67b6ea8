package mail_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/codequest-dev/codequest/apiserver/mail"
	"github.com/codequest-dev/codequest/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func job(to string) *river.Job[mail.SendArgs] {
	return &river.Job[mail.SendArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: mail.SendArgs{To: to, Subject: "Hello", Text: "Body text"}}
}

func TestWorkerDelivers(t *testing.T) {
	mb := harness.Mail(t)
	w := mail.NewWorker(mail.SMTPConfig{Host: mb.SMTPHost, Port: mb.SMTPPort, From: "CodeQuest <no-reply@codequest.dev>"})
	to := "worker-" + time.Now().Format("150405.000000") + "@example.test"
	if err := w.Work(context.Background(), job(to)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := mb.WaitFor(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Hello" || m.Text == "" {
		t.Errorf("got %+v", m)
	}
}

// An unreachable server is an error River retries; a malformed address is
// cancelled, since no retry can fix it.
func TestWorkerFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	w := mail.NewWorker(mail.SMTPConfig{Host: "127.0.0.1", Port: port, From: "no-reply@codequest.dev"})
	err = w.Work(context.Background(), job("someone@example.test"))
	var cancelled *river.JobCancelError
	if err == nil || errors.As(err, &cancelled) {
		t.Errorf("unreachable server: %v, want a retryable error", err)
	}
	err = w.Work(context.Background(), job("not an address"))
	if !errors.As(err, &cancelled) {
		t.Errorf("bad address: %v, want JobCancel", err)
	}
}
