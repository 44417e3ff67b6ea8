package apitest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
)

// Watch streams submission id with WatchSubmission until the server ends
// the stream and returns every message. It is an error if the stream
// fails or ends before a final phase (COMPLETED or FAILED).
func Watch(ctx context.Context, c Clients, id string) ([]*codequestv1.WatchSubmissionResponse, error) {
	stream, err := c.Submissions.WatchSubmission(ctx, connect.NewRequest(&codequestv1.WatchSubmissionRequest{SubmissionId: id}))
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", id, err)
	}
	defer stream.Close()
	var got []*codequestv1.WatchSubmissionResponse
	for stream.Receive() {
		got = append(got, stream.Msg())
	}
	if err := stream.Err(); err != nil {
		return got, fmt.Errorf("watch %s: %w", id, err)
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("watch %s: %w", id, errors.New("the stream ended without a message"))
	}
	switch p := got[len(got)-1].GetSubmission().GetPhase(); p {
	case codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPLETED, codequestv1.SubmissionPhase_SUBMISSION_PHASE_FAILED:
		return got, nil
	default:
		return got, fmt.Errorf("watch %s: the stream ended in phase %v", id, p)
	}
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 1) of d: the
// smallest value with at least p of the samples at or below it.
func Percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
