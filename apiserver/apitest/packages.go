package apitest

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver/problems"
)

// ZipDir zips the folder dir, under the folder top inside the zip ("" for
// none), plus extra entries (name to content) — hostile ones included.
func ZipDir(t testing.TB, dir, top string, extra map[string]string) []byte {
	t.Helper()
	data, err := problems.ZipDir(dir, top)
	if err != nil {
		t.Fatal(err)
	}
	if len(extra) == 0 {
		return data
	}
	// Re-pack with the extra entries.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range extra {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ImportPackage uploads a package zip through CreatePackageUpload's
// presigned URL and imports it, as an author's client would.
func ImportPackage(ctx context.Context, c Clients, problemID string, data []byte) (*codequestv1.Problem, error) {
	up, err := c.Problems.CreatePackageUpload(ctx, connect.NewRequest(&codequestv1.CreatePackageUploadRequest{ProblemId: problemID, SizeBytes: int64(len(data))}))
	if err != nil {
		return nil, fmt.Errorf("CreatePackageUpload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, up.Msg.GetUploadUrl(), bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for k, v := range up.Msg.GetHeaders() {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("PUT package: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("PUT package: %s", res.Status)
	}
	imp, err := c.Problems.ImportProblemPackage(ctx, connect.NewRequest(&codequestv1.ImportProblemPackageRequest{ProblemId: problemID, ObjectKey: up.Msg.GetObjectKey()}))
	if err != nil {
		return nil, err
	}
	return imp.Msg.GetProblem(), nil
}
