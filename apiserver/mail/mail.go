// Package mail sends CodeQuest's email through a durable River job: callers
// enqueue a SendArgs in the same transaction as the change that needs the
// mail, and the Worker delivers it over SMTP with retries.
package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	gomail "github.com/wneessen/go-mail"
)

// SMTPConfig locates the mail server.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// StartTLS requires STARTTLS; without it the connection is opportunistic.
	StartTLS bool
	From     string
}

// SendArgs is one message to deliver.
type SendArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// Kind implements river.JobArgs.
func (SendArgs) Kind() string { return "send_email" }

// InsertOpts keeps mail jobs on their own queue with a bounded retry budget.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 10}
}

// Queue is the River queue of mail jobs.
const Queue = "mail"

// Worker delivers SendArgs over SMTP.
type Worker struct {
	river.WorkerDefaults[SendArgs]
	cfg SMTPConfig
}

// NewWorker returns a Worker for cfg.
func NewWorker(cfg SMTPConfig) *Worker { return &Worker{cfg: cfg} }

// Timeout bounds one delivery attempt.
func (w *Worker) Timeout(*river.Job[SendArgs]) time.Duration { return 30 * time.Second }

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	m := gomail.NewMsg()
	if err := m.From(w.cfg.From); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := m.To(job.Args.To); err != nil {
		// A malformed address never becomes valid: do not retry.
		return river.JobCancel(fmt.Errorf("to address: %w", err))
	}
	m.Subject(job.Args.Subject)
	m.SetBodyString(gomail.TypeTextPlain, job.Args.Text)

	opts := []gomail.Option{gomail.WithPort(w.cfg.Port), gomail.WithTimeout(20 * time.Second)}
	if w.cfg.StartTLS {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if w.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(w.cfg.Username), gomail.WithPassword(w.cfg.Password))
	}
	c, err := gomail.NewClient(w.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}
