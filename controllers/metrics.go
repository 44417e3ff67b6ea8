package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of judging, served with controller-runtime's on the manager's
// metrics endpoint. They are registered once per process.
var (
	submissionsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "codequest_submissions_finished_total",
		Help: "Submissions whose judging finished, by phase (Completed, Failed) and verdict.",
	}, []string{"phase", "verdict"})
	submissionQueueSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "codequest_submission_queue_seconds",
		Help:    "Time from a Submission's creation to the start of its judging (Job created).",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
	})
	submissionJudgeSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "codequest_submission_judge_seconds",
		Help:    "Time from the start of a Submission's judging to its recorded outcome.",
		Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
	})
	submissionsQuotaRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "codequest_submissions_quota_refused_total",
		Help: "Times starting a judging was refused by the quota (the Submission stays Queued).",
	})
)

func init() {
	metrics.Registry.MustRegister(submissionsFinished, submissionQueueSeconds, submissionJudgeSeconds, submissionsQuotaRefused)
}
