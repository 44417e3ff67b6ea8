package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/api/proto/codequest/v1/codequestv1connect"
	"github.com/codequest-dev/codequest/apiserver/problems"
)

// seedProblems imports every problem package folder of dir (one holding a
// problem.yaml) through the public API, as the instructor, and publishes
// it; problems whose slug exists are left alone. It reports the slugs it
// imported.
func seedProblems(ctx context.Context, log *slog.Logger, baseURL, email, password, dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{}
	authc := codequestv1connect.NewAuthServiceClient(hc, baseURL)
	login, err := authc.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: email, Password: password}))
	if err != nil {
		return nil, fmt.Errorf("sign in as %s: %w", email, err)
	}
	token := login.Msg.GetTokens().GetAccessToken()
	pc := codequestv1connect.NewProblemServiceClient(hc, baseURL, connect.WithInterceptors(bearer(token)))
	var imported []string
	for _, e := range entries {
		pdir := filepath.Join(dir, e.Name())
		meta, err := os.ReadFile(filepath.Join(pdir, "problem.yaml"))
		if !e.IsDir() || err != nil {
			continue
		}
		slug := strings.ToLower(e.Name())
		if _, err := pc.GetProblem(ctx, connect.NewRequest(&codequestv1.GetProblemRequest{Problem: slug})); err == nil {
			continue
		}
		var py struct {
			Name string `json:"name"`
		}
		_ = yaml.Unmarshal(meta, &py)
		if py.Name == "" {
			py.Name = e.Name()
		}
		if err := importProblem(ctx, pc, slug, py.Name, pdir); err != nil {
			log.Warn("sample problem not imported", "problem", slug, "error", err)
			continue
		}
		imported = append(imported, slug)
	}
	return imported, nil
}

func importProblem(ctx context.Context, pc codequestv1connect.ProblemServiceClient, slug, title, dir string) error {
	created, err := pc.CreateProblem(ctx, connect.NewRequest(&codequestv1.CreateProblemRequest{
		Slug: slug, Title: title, Difficulty: codequestv1.Difficulty_DIFFICULTY_MEDIUM, Tags: []string{"sample"},
	}))
	if err != nil {
		return err
	}
	id := created.Msg.GetProblem().GetId()
	data, err := problems.ZipDir(dir, slug)
	if err != nil {
		return err
	}
	up, err := pc.CreatePackageUpload(ctx, connect.NewRequest(&codequestv1.CreatePackageUploadRequest{ProblemId: id, SizeBytes: int64(len(data))}))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, up.Msg.GetUploadUrl(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	for k, v := range up.Msg.GetHeaders() {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("upload: %s", res.Status)
	}
	if _, err := pc.ImportProblemPackage(ctx, connect.NewRequest(&codequestv1.ImportProblemPackageRequest{ProblemId: id, ObjectKey: up.Msg.GetObjectKey()})); err != nil {
		return err
	}
	_, err = pc.PublishProblem(ctx, connect.NewRequest(&codequestv1.PublishProblemRequest{ProblemId: id}))
	return err
}

// bearer sends an access token with every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
