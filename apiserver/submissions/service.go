// Package submissions is the SubmissionService and the verdict flow.
//
// What each caller sees of a judging is decided in view.go: learners get
// structured results and nothing a secret test contains; the problem's
// editors get the judge's messages and report too.
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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/apierr"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/problems"
	"github.com/codequest-dev/codequest/apiserver/store"
)

// Dispatcher hands a submission to the judge: it creates the Submission
// custom resource. Creating one that already exists succeeds.
type Dispatcher interface {
	Dispatch(ctx context.Context, s store.Submission, p store.Problem) error
}

// Reports presigns reads of full judge reports (an *objects.Store).
type Reports interface {
	PresignGetIn(ctx context.Context, bucket, key string, ttl time.Duration) (*url.URL, error)
}

// Config tunes the service.
type Config struct {
	// SubmitLimit and RunLimit rate-limit each user.
	SubmitLimit redis_rate.Limit
	RunLimit    redis_rate.Limit
	// SweepAfter is when the durable job re-checks that a submission's
	// resource exists.
	SweepAfter time.Duration
	// WatchesPerUser bounds a user's open WatchSubmission streams (across
	// replicas); WatchMaxDuration ends a stream that outlives it (the
	// client watches again).
	WatchesPerUser   int
	WatchMaxDuration time.Duration
	// WatchPoll is how often a stream re-reads its row, in case an event
	// was lost.
	WatchPoll time.Duration
}

// DefaultConfig is 10 submissions and 20 runs per minute per user, and 8
// open watches.
func DefaultConfig() Config {
	return Config{SubmitLimit: redis_rate.PerMinute(10), RunLimit: redis_rate.PerMinute(20), SweepAfter: 30 * time.Second,
		WatchesPerUser: 8, WatchMaxDuration: 30 * time.Minute, WatchPoll: 10 * time.Second}
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
	hub        *hub
	reports    Reports
	// Draining, when closed, ends open streams so the server can stop.
	Draining <-chan struct{}
}

var _ codequestv1connect.SubmissionServiceHandler = (*Service)(nil)

// New returns the service. dispatcher may be nil where no Kubernetes API
// is configured: Submit and Run then answer Unavailable.
func New(cfg Config, st *store.Store, rdb *redis.Client, probs *problems.Service, dispatcher Dispatcher, jobs JobInserter, board *Leaderboard, reports Reports, log *slog.Logger) *Service {
	return &Service{
		cfg: cfg, st: st, rdb: rdb, limiter: redis_rate.NewLimiter(rdb), problems: probs, reports: reports,
		dispatcher: dispatcher, jobs: jobs, board: board, log: log, hub: newHub(rdb, log),
	}
}

// Close ends the shared event subscription.
func (s *Service) Close() { s.hub.close() }

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
			if err := sameRequest(prev, prog); err != nil {
				return nil, apierr.Connect(ctx, err)
			}
			return connect.NewResponse(&codequestv1.SubmitResponse{Submission: s.viewFor(ctx, c, prev)}), nil
		}
		if !store.IsNoRows(err) {
			return nil, apierr.Connect(ctx, err)
		}
	}
	row, err := s.queue(ctx, c, prog, "submit", nil, key, s.cfg.SubmitLimit)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	return connect.NewResponse(&codequestv1.SubmitResponse{Submission: s.viewFor(ctx, c, row)}), nil
}

// requestHash names what an idempotency key stands for.
func requestHash(p program) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", p.problemID, p.language)
	h.Write([]byte(p.source))
	return h.Sum(nil)
}

// sameRequest refuses the reuse of an idempotency key for another program.
func sameRequest(prev store.Submission, p program) error {
	if prev.RequestHash != nil && !bytes.Equal(prev.RequestHash, requestHash(p)) ||
		prev.RequestHash == nil && (prev.ProblemID != p.problemID || prev.Language != p.language || prev.Source != p.source) {
		return apierr.New(apierr.ErrAlreadyExists, "this idempotency key was used for another submission (another problem, language or source); use a new key")
	}
	return nil
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
	return connect.NewResponse(&codequestv1.RunResponse{Submission: s.viewFor(ctx, c, row)}), nil
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
		SampleTests: p.SampleTests,
	}
	if key != "" {
		params.IdempotencyKey = &key
		params.RequestHash = requestHash(prog)
	}
	if mode == "run" {
		params.TestsTotal, params.SampleTests = 1, 1
	}
	var row store.Submission
	err = s.st.InTx(ctx, func(q *store.Queries, tx pgx.Tx) error {
		var err error
		row, err = q.CreateSubmission(ctx, params)
		if store.IsNoRows(err) && key != "" {
			// A concurrent retry with the same key won.
			row, err = q.GetSubmissionByKey(ctx, store.GetSubmissionByKeyParams{UserID: c.UserID, IdempotencyKey: &key})
			if err != nil {
				return err
			}
			return sameRequest(row, prog)
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
		var pub *apierr.Public
		if errors.As(err, &pub) {
			return store.Submission{}, err
		}
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

// editor reports whether c edits the problem (its author, its
// organization's instructors and owners, admins), and so sees its
// submissions in full.
func (s *Service) editor(ctx context.Context, c *auth.Caller, problemID uuid.UUID) (bool, error) {
	if c.IsAdmin() {
		return true, nil
	}
	p, err := s.st.GetProblem(ctx, problemID)
	if store.IsNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get problem: %w", err)
	}
	return s.problems.CanEdit(ctx, c, p)
}

// viewFor is row as c sees it; when the editor check fails, the learner's
// view (the safe one).
func (s *Service) viewFor(ctx context.Context, c *auth.Caller, row store.Submission) *codequestv1.Submission {
	ed, err := s.editor(ctx, c, row.ProblemID)
	if err != nil {
		s.log.WarnContext(ctx, "editor check; showing the learner's view", "error", err)
	}
	return view(full(row), ed)
}

// readable loads a submission the caller may read: their own, or any of a
// problem they edit (its author, its organization's instructors and
// owners, admins). Others get not-found.
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
	if row.UserID == c.UserID {
		return row, nil
	}
	ed, err := s.editor(ctx, c, row.ProblemID)
	if err != nil {
		return row, err
	}
	if !ed {
		return row, errNotFound
	}
	return row, nil
}

// GetSubmission implements SubmissionService.GetSubmission.
func (s *Service) GetSubmission(ctx context.Context, req *connect.Request[codequestv1.GetSubmissionRequest]) (*connect.Response[codequestv1.GetSubmissionResponse], error) {
	row, err := s.readable(ctx, req.Msg.GetSubmissionId())
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	c, _ := caller(ctx)
	ed, err := s.editor(ctx, c, row.ProblemID)
	if err != nil {
		return nil, apierr.Connect(ctx, err)
	}
	out := &codequestv1.GetSubmissionResponse{Submission: view(full(row), ed), RunOutput: runOutput(row)}
	if ed && row.Report != "" && s.reports != nil {
		bucket, key, ok := strings.Cut(row.Report, "/")
		if ok {
			u, err := s.reports.PresignGetIn(ctx, bucket, key, 15*time.Minute)
			if err != nil {
				s.log.WarnContext(ctx, "presign judge report", "error", err)
			} else {
				out.ReportUrl = u.String()
			}
		}
	}
	return connect.NewResponse(out), nil
}

// runOutput is the program's output on the caller's own input: only runs
// have one.
func runOutput(row store.Submission) string {
	if row.Mode != "run" {
		return ""
	}
	return row.RunOutput
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
	editors := map[uuid.UUID]bool{}
	for i, r := range rows {
		if int32(i) == page.Size {
			last := rows[i-1]
			out.NextPageToken = store.EncodeCursor(last.CreatedAt, last.ID)
			break
		}
		ed, ok := editors[r.ProblemID]
		if !ok {
			if ed, err = s.editor(ctx, c, r.ProblemID); err != nil {
				return nil, apierr.Connect(ctx, err)
			}
			editors[r.ProblemID] = ed
		}
		out.Submissions = append(out.Submissions, view(full(r), ed))
	}
	return connect.NewResponse(out), nil
}

// WatchSubmission implements SubmissionService.WatchSubmission: subscribe
// first, then send the current state, so no change between the two is
// lost; repeated states are harmless (clients see the same state twice).
// Every message is shown as the caller may see it. A user has at most
// WatchesPerUser streams open; a stream re-reads its row every WatchPoll
// in case an event was lost, and ends after WatchMaxDuration.
func (s *Service) WatchSubmission(ctx context.Context, req *connect.Request[codequestv1.WatchSubmissionRequest], stream *connect.ServerStream[codequestv1.WatchSubmissionResponse]) error {
	row, err := s.readable(ctx, req.Msg.GetSubmissionId())
	if err != nil {
		return apierr.Connect(ctx, err)
	}
	c, _ := caller(ctx)
	ed, err := s.editor(ctx, c, row.ProblemID)
	if err != nil {
		return apierr.Connect(ctx, err)
	}
	release, err := takeWatch(ctx, s.rdb, c.UserID, s.cfg.WatchesPerUser)
	if errors.Is(err, errTooManyWatches) {
		return apierr.Connect(ctx, &apierr.RetryAfter{Seconds: 5,
			Message: fmt.Sprintf("at most %d submissions watched at once; close another watch first", s.cfg.WatchesPerUser)})
	}
	if err != nil {
		return apierr.Connect(ctx, fmt.Errorf("watch slot: %w", err))
	}
	defer release()
	events, stop, err := s.hub.watch(ctx, channel(row.ID))
	if err != nil {
		return apierr.Connect(ctx, fmt.Errorf("subscribe: %w", err))
	}
	defer stop()
	send := func(row store.Submission) (bool, error) {
		err := stream.Send(&codequestv1.WatchSubmissionResponse{Submission: view(full(row), ed), RunOutput: runOutput(row)})
		return row.PhaseRank >= 3, err
	}
	if row, err = s.st.GetSubmission(ctx, row.ID); err != nil {
		return apierr.Connect(ctx, fmt.Errorf("get submission: %w", err))
	}
	if done, err := send(row); done || err != nil {
		return err
	}
	poll := time.NewTicker(s.cfg.WatchPoll)
	defer poll.Stop()
	deadline := time.NewTimer(s.cfg.WatchMaxDuration)
	defer deadline.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Draining:
			return apierr.Connect(ctx, apierr.New(apierr.ErrUnavailable, "the server is shutting down; watch again"))
		case <-deadline.C:
			return apierr.Connect(ctx, apierr.New(apierr.ErrUnavailable, "this watch lasted long enough; watch again"))
		case <-poll.C:
			cur, err := s.st.GetSubmission(ctx, row.ID)
			if err != nil {
				return apierr.Connect(ctx, fmt.Errorf("get submission: %w", err))
			}
			if cur.UpdatedAt.Equal(row.UpdatedAt) {
				continue
			}
			row = cur
			if done, err := send(row); done || err != nil {
				return err
			}
		case payload := <-events:
			var ev event
			if err := json.Unmarshal(payload, &ev); err != nil {
				s.log.WarnContext(ctx, "bad submission event", "error", err)
				continue
			}
			if ev.Row.ID != row.ID {
				continue
			}
			row = ev.Row
			if done, err := send(row); done || err != nil {
				return err
			}
		}
	}
}

// event is what a change of a submission publishes to every replica: the
// row itself (Redis is internal); each stream shows it as its caller may
// see it.
type event struct {
	Row store.Submission `json:"row"`
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
