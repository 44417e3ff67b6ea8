package controllers

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge/jobrun"
	"github.com/codequest-dev/codequest/test/harness"
)

// TestObjectStoreOnMinIO: the controller's object store against a real
// MinIO: the package cache fetches and checks a package, and the presigned
// URLs a judge pod gets work without credentials.
func TestObjectStoreOnMinIO(t *testing.T) {
	ctx := context.Background()
	s3 := harness.MinIO(t)
	pkg, err := packDir(filepath.Join("testdata", "sum"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Client.PutObject(ctx, s3.Bucket, "p/sum.tar.gz", bytes.NewReader(pkg), int64(len(pkg)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	store, err := NewObjectStore(ObjectStoreConfig{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Region: s3.Region, UseTLS: s3.Secure})
	if err != nil {
		t.Fatal(err)
	}
	mem := newMemObjects()
	ref := mem.put(s3.Bucket, "p/sum.tar.gz", pkg)

	cache := NewPackageCache(store, t.TempDir())
	root, err := cache.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "problem.yaml")); err != nil {
		t.Errorf("unpacked package: %v", err)
	}
	bad := ref
	bad.SHA256 = ref.SHA256[:63] + "0"
	if bad.SHA256 == ref.SHA256 {
		bad.SHA256 = ref.SHA256[:63] + "1"
	}
	if _, err := cache.Get(ctx, bad); err == nil {
		t.Error("a package with the wrong checksum was accepted")
	}
	if _, err := cache.Get(ctx, v1alpha1.ObjectReference{Bucket: s3.Bucket, Key: "missing", SHA256: strings.Repeat("ab", 32), Size: 1}); err == nil {
		t.Error("a missing object was accepted")
	}

	get, err := store.PresignGet(ctx, s3.Bucket, "p/sum.tar.gz", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jobrun.Fetch(ctx, http.DefaultClient, jobrun.Download{URL: get, SHA256: ref.SHA256, Size: ref.Size})
	if err != nil || !bytes.Equal(b, pkg) {
		t.Fatalf("fetch with a presigned URL: %v", err)
	}
	put, err := store.PresignPut(ctx, s3.Bucket, "reports/r.json", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, put, bytes.NewReader([]byte(`{"verdict":"ACCEPTED"}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload with a presigned URL: %s", resp.Status)
	}
	if _, err := s3.Client.StatObject(ctx, s3.Bucket, "reports/r.json", minio.StatObjectOptions{}); err != nil {
		t.Errorf("the uploaded report: %v", err)
	}
}
