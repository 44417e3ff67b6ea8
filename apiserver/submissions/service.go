// Package submissions is the SubmissionService and the verdict flow.
//
// Submit writes a QUEUED row and, in the same transaction, a durable job
// that makes sure the Submission custom resource exists; it then creates
// the resource at once (the job finds it done). The controllers judge it;
// the API server's watch on Submission status calls Apply, which moves the
// row forward only, counts statistics, awards XP and the streak exactly
// once, and publishes the new state on Redis, where every replica's
// WatchSubmission streams pick it up.
package submissions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/go-redis/redis_rate/v10"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/policy"
	"github.com/codequest-dev/codequest/apiserver/problems"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Dispatcher hands a submission to the judge: it creates the Submission
// custom resource. Creating one that already exists succeeds.
type Dispatcher interface {
	Dispatch(ctx context.Context, s store.Submission, p store.Problem) error
}

// Config tunes the service.
type Config struct {
	// SubmitLimit and RunLimit rate-limit each user.
	SubmitLimit redis_rate.Limit
	RunLimit    redis_rate.Limit
	// SweepAfter is when the durable job re-checks that a submission's
	// resource exists.
	SweepAfter time.Duration
}

// DefaultConfig is 10 submissions and 20 runs per minute per user.
func DefaultConfig() Config {
	return Config{SubmitLimit: redis_rate.PerMinute(10), RunLimit: redis_rate.PerMinute(20), SweepAfter: 30 * time.Second}
}

// JobInserter enqueues durable jobs in a transaction (a *river.Client).
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Service implements codequestv1connect.SubmissionServiceHandler.
type Service struct {
	codequestv1connect.UnimplementedSubmissionServiceHandler
	cfg        Config
	st         *store.Store
	rdb        *redis.Client
	limiter    *redis_rate.Limiter
	problems   *problems.Service
	dispatcher Dispatcher
	jobs       JobInserter
	board      *Leaderboard
	log        *slog.Logger
	// Draining, when closed, ends open streams so the server can stop.
	Draining <-chan struct{}
}

var _ codequestv1connect.SubmissionServiceHandler = (*Service)(nil)

// New returns the service. dispatcher may be nil where no Kubernetes API
// is configured: Submit and Run then answer Unavailable.
func New(cfg Config, st *store.Store, rdb *redis.Client, probs *problems.Service, dispatcher Dispatcher, jobs JobInserter, board *Leaderboard, log *slog.Logger) *Service {
	return &Service{
		cfg: cfg, st: st, rdb: rdb, limiter: redis_rate.NewLimiter(rdb), problems: probs,
		dispatcher: dispatcher, jobs: jobs, board: board, log: log,
	}
}

const maxSource = 64 << 10

var (
	languages   = []string{"python3", "javascript", "typescript", "cpp", "java", "go"}
	errNotFound = apierr.New(apierr.ErrNotFound, "submission not found")
)

func caller(ctx context.Context) (*auth.Caller, error) {
	c := auth.CallerFrom(ctx)
	if c == nil {
		return nil, apierr.New(apierr.ErrUnauthenticated, "sign in first")
	}
	return c, nil
}

type program struct {
	problemID uuid.UUID
	language  string
	source    string
}

func validateProgram(v *apierr.Validation, problemID, language, source string) program {
	id, err := uuid.Parse(problemID)
	v.Check(err == nil, "problem_id", "must be a UUID")
	v.Check(slices.Contains(languages, language), "language", "must be one of %s", strings.Join(languages, ", "))
	v.Check(strings.TrimSpace(source) != "", "source", "is empty")
	v.Check(len(source) <= maxSource, "source", "must be at most %d bytes", maxSource)
	v.Check(utf8.ValidString(source) && !strings.ContainsRune(source, 0), "source", "must be UTF-8 text without NUL bytes")
	return program{problemID: id, language: language, source: source}
}

// Submit implements SubmissionService.Submit.
func (s *Service) Submit(ctx context.Context, req *connect.Request[codequestv1.SubmitRequest]) (*connect.Response[codequestv1.SubmitResponse], error) {
	m := req.Msg
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	v := &apierr.Validation{}
	prog := validateProgram(v, m.GetProblemId(), m.GetLanguage(), m.GetSource())
	key := m.GetIdempotencyKey()
	v.Check(len(key) <= 128 && utf8.ValidString(key), "idempotency_key", "must be at most 128 characters")
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	if key != "" {
		prev, err := s.st.GetSubmissionByKey(ctx, store.GetSubmissionByKeyParams{UserID: c.UserID, IdempotencyKey: &key})
		if err == nil {
			return connect.NewResponse(&codequestv1.SubmitResponse{Submission: toProto(prev)}), nil
		}
		if !store.IsNoRows(err) {
			return nil, apierr.Connect(ctx, err)
		}
	}
	row, err := s.queue(ctx, c, prog, "submit", nil, key, s.cfg.SubmitLimit)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.SubmitResponse{Submission: toProto(row)}), nil
}

// Run implements SubmissionService.Run.
func (s *Service) Run(ctx context.Context, req *connect.Request[codequestv1.RunRequest]) (*connect.Response[codequestv1.RunResponse], error) {
	m := req.Msg
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	v := &apierr.Validation{}
	prog := validateProgram(v, m.GetProblemId(), m.GetLanguage(), m.GetSource())
	input := m.GetInput()
	v.Check(len(input) <= maxSource, "input", "must be at most %d bytes", maxSource)
	v.Check(utf8.ValidString(input) && !strings.ContainsRune(input, 0), "input", "must be UTF-8 text without NUL bytes")
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	row, err := s.queue(ctx, c, prog, "run", &input, "", s.cfg.RunLimit)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.RunResponse{Submission: toProto(row)}), nil
}

// queue checks the problem and the rate limit, writes the row with its
// durable dispatch job, and dispatches.
func (s *Service) queue(ctx context.Context, c *auth.Caller, prog program, mode string, input *string, key string, limit redis_rate.Limit) (store.Submission, error) {
	if s.dispatcher == nil {
		return store.Submission{}, apierr.New(apierr.ErrFailedPrecondition, "judging is not configured on this server")
	}
	p, err := s.problems.Visible(ctx, c, prog.problemID)
	if err != nil {
		return store.Submission{}, err
	}
	if p.PackageKey == nil {
		return store.Submission{}, apierr.New(apierr.ErrFailedPrecondition, "this problem has no test data yet")
	}
	if len(p.Languages) > 0 && !slices.Contains(p.Languages, prog.language) {
		v := &apierr.Validation{}
		v.Add("language", "this problem accepts %s", strings.Join(p.Languages, ", "))
		return store.Submission{}, v
	}
	res, err := s.limiter.Allow(ctx, mode+":"+c.UserID.String(), limit)
	if err != nil {
		return store.Submission{}, fmt.Errorf("rate limit: %w", err)
	}
	if res.Allowed == 0 {
		return store.Submission{}, &apierr.RetryAfter{
			Seconds: max(1, int(res.RetryAfter.Round(time.Second)/time.Second)),
			Message: fmt.Sprintf("at most %d per minute; retry later", limit.Rate),
		}
	}
	params := store.CreateSubmissionParams{
		UserID: c.UserID, ProblemID: p.ID, OrganizationID: p.OrganizationID, Mode: mode,
		Language: prog.language, Source: prog.source, Input: input, TestsTotal: p.PackageTests,
	}
	if key != "" {
		params.IdempotencyKey = &key
	}
	if mode == "run" {
		params.TestsTotal = 1
	}
	var row store.Submission
	err = s.st.InTx(ctx, func(q *store.Queries, tx pgx.Tx) error {
		var err error
		row, err = q.CreateSubmission(ctx, params)
		if store.IsNoRows(err) && key != "" {
			// A concurrent retry with the same key won.
			row, err = q.GetSubmissionByKey(ctx, store.GetSubmissionByKeyParams{UserID: c.UserID, IdempotencyKey: &key})
			return err
		}
		if err != nil {
			return err
		}
		_, err = s.jobs.InsertTx(ctx, tx, DispatchArgs{SubmissionID: row.ID}, &river.InsertOpts{
			ScheduledAt: time.Now().Add(s.cfg.SweepAfter),
		})
		return err
	})
	if err != nil {
		return store.Submission{}, fmt.Errorf("queue submission: %w", err)
	}
	if row.CrCreatedAt == nil {
		if err := s.dispatch(ctx, row, p); err != nil {
			// The durable job will try again; the client sees QUEUED.
			s.log.WarnContext(ctx, "dispatch submission", "submission", row.ID, "error", err)
		}
	}
	return row, nil
}

func (s *Service) dispatch(ctx context.Context, row store.Submission, p store.Problem) error {
	if err := s.dispatcher.Dispatch(ctx, row, p); err != nil {
		return err
	}
	return s.st.MarkSubmissionResourceCreated(ctx, row.ID)
}

// readable loads a submission the caller may read: their own, or any for
// admins and editors of its problem. Others get not-found.
func (s *Service) readable(ctx context.Context, rawID string) (store.Submission, error) {
	c, err := caller(ctx)
	if err != nil {
		return store.Submission{}, err
	}
	id, err := uuid.Parse(rawID)
	if err != nil {
		v := &apierr.Validation{}
		v.Add("submission_id", "must be a UUID")
		return store.Submission{}, v
	}
	row, err := s.st.GetSubmission(ctx, id)
	if store.IsNoRows(err) {
		return row, errNotFound
	}
	if err != nil {
		return row, fmt.Errorf("get submission: %w", err)
	}
	if row.UserID == c.UserID || c.IsAdmin() {
		return row, nil
	}
	// Instructors and owners of the problem's organization.
	p, err := s.st.GetProblem(ctx, row.ProblemID)
	if err != nil {
		return row, fmt.Errorf("get problem: %w", err)
	}
	if p.OrganizationID == nil {
		return row, errNotFound
	}
	m, err := s.st.GetMembership(ctx, store.GetMembershipParams{OrganizationID: *p.OrganizationID, UserID: c.UserID})
	if store.IsNoRows(err) || err == nil && policy.OrgRoleRank(m.Role) < policy.OrgRoleRank(policy.OrgRoleInstructor) {
		return row, errNotFound
	}
	if err != nil {
		return row, fmt.Errorf("membership: %w", err)
	}
	return row, nil
}

// GetSubmission implements SubmissionService.GetSubmission.
func (s *Service) GetSubmission(ctx context.Context, req *connect.Request[codequestv1.GetSubmissionRequest]) (*connect.Response[codequestv1.GetSubmissionResponse], error) {
	row, err := s.readable(ctx, req.Msg.GetSubmissionId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.GetSubmissionResponse{Submission: toProto(row), RunOutput: row.RunOutput}), nil
}

// GetSubmissionCode implements SubmissionService.GetSubmissionCode.
func (s *Service) GetSubmissionCode(ctx context.Context, req *connect.Request[codequestv1.GetSubmissionCodeRequest]) (*connect.Response[codequestv1.GetSubmissionCodeResponse], error) {
	row, err := s.readable(ctx, req.Msg.GetSubmissionId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.GetSubmissionCodeResponse{Language: row.Language, Source: row.Source}), nil
}

// ListSubmissions implements SubmissionService.ListSubmissions.
func (s *Service) ListSubmissions(ctx context.Context, req *connect.Request[codequestv1.ListSubmissionsRequest]) (*connect.Response[codequestv1.ListSubmissionsResponse], error) {
	c, err := caller(ctx)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	m := req.Msg
	v := &apierr.Validation{}
	page := v.Page(m.GetPageSize(), m.GetPageToken())
	params := store.ListSubmissionsParams{UserID: c.UserID, BeforeTime: page.AfterTime, BeforeID: page.AfterID, Lim: page.Limit()}
	if p := m.GetProblemId(); p != "" {
		id, err := uuid.Parse(p)
		v.Check(err == nil, "problem_id", "must be a UUID")
		params.ProblemID = &id
	}
	if err := v.Err(); err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	rows, err := s.st.ListSubmissions(ctx, params)
	if err != nil {
		return nil, apierr.Connect(ctx, fmt.Errorf("list submissions: %w", err))
	}
	out := &codequestv1.ListSubmissionsResponse{Submissions: []*codequestv1.Submission{}}
	for i, r := range rows {
		if int32(i) == page.Size {
			last := rows[i-1]
			out.NextPageToken = store.EncodeCursor(last.CreatedAt, last.ID)
			break
		}
		out.Submissions = append(out.Submissions, toProto(r))
	}
	return connect.NewResponse(out), nil
}

// channel is the Redis pub/sub channel of one submission's events.
func channel(id uuid.UUID) string { return "codequest:submission:" + id.String() }

// WatchSubmission implements SubmissionService.WatchSubmission: subscribe
// first, then send the current state, so no change between the two is
// lost; repeated states are harmless (clients see the same state twice).
func (s *Service) WatchSubmission(ctx context.Context, req *connect.Request[codequestv1.WatchSubmissionRequest], stream *connect.ServerStream[codequestv1.WatchSubmissionResponse]) error {
	row, err := s.readable(ctx, req.Msg.GetSubmissionId())
	if err != nil {
		return apierr.Connect(ctx, err)
	}
	sub := s.rdb.Subscribe(ctx, channel(row.ID))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is confirmed
		return apierr.Connect(ctx, fmt.Errorf("subscribe: %w", err))
	}
	if row, err = s.st.GetSubmission(ctx, row.ID); err != nil {
		return apierr.Connect(ctx, fmt.Errorf("get submission: %w", err))
	}
	if err := stream.Send(&codequestv1.WatchSubmissionResponse{Submission: toProto(row), RunOutput: row.RunOutput}); err != nil {
		return err
	}
	if row.PhaseRank >= 3 {
		return nil
	}
	msgs := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Draining:
			return apierr.Connect(ctx, apierr.New(apierr.ErrUnavailable, "the server is shutting down; watch again"))
		case msg, ok := <-msgs:
			if !ok {
				return apierr.Connect(ctx, errors.New("event channel closed"))
			}
			var ev codequestv1.WatchSubmissionResponse
			if err := proto.Unmarshal([]byte(msg.Payload), &ev); err != nil {
				s.log.WarnContext(ctx, "bad submission event", "error", err)
				continue
			}
			if err := stream.Send(&ev); err != nil {
				return err
			}
			if p := ev.GetSubmission().GetPhase(); p == codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPLETED || p == codequestv1.SubmissionPhase_SUBMISSION_PHASE_FAILED {
				return nil
			}
		}
	}
}

// testJSON is one test of submissions.tests.
type testJSON struct {
	Verdict   string `json:"verdict"`
	CPUMillis int64  `json:"cpu_ms"`
	MemoryKiB int64  `json:"memory_kib"`
}

var phases = map[string]codequestv1.SubmissionPhase{
	"queued": codequestv1.SubmissionPhase_SUBMISSION_PHASE_QUEUED, "compiling": codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPILING,
	"running": codequestv1.SubmissionPhase_SUBMISSION_PHASE_RUNNING, "completed": codequestv1.SubmissionPhase_SUBMISSION_PHASE_COMPLETED,
	"failed": codequestv1.SubmissionPhase_SUBMISSION_PHASE_FAILED,
}

func verdictProto(v string) codequestv1.Verdict {
	return codequestv1.Verdict(codequestv1.Verdict_value["VERDICT_"+v])
}

func toProto(r store.Submission) *codequestv1.Submission {
	out := &codequestv1.Submission{
		Id: r.ID.String(), ProblemId: r.ProblemID.String(), UserId: r.UserID.String(), Language: r.Language,
		Phase: phases[r.Phase], Message: r.Message, CurrentTest: r.CurrentTest, TestsPassed: r.TestsPassed,
		TestsTotal: r.TestsTotal, MaxCpuTimeMs: r.MaxCpuMs, PeakMemoryKib: r.PeakMemoryKib,
		CompilerMessage: r.CompilerMessage, CreateTime: timestamppb.New(r.CreatedAt), XpAwarded: r.XpAwarded,
	}
	if r.Verdict != nil {
		out.Verdict = verdictProto(*r.Verdict)
	}
	if r.FinishedAt != nil {
		out.FinishTime = timestamppb.New(*r.FinishedAt)
	}
	var tests []testJSON
	_ = json.Unmarshal(r.Tests, &tests)
	for i, t := range tests {
		out.Tests = append(out.Tests, &codequestv1.TestResult{
			Index: int32(i + 1), Verdict: verdictProto(t.Verdict), CpuTimeMs: t.CPUMillis, MemoryKib: t.MemoryKiB,
		})
	}
	return out
}
