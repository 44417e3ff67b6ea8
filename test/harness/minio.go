package harness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/codequest-dev/codequest/test/localsvc"
)

// ObjectStore is a test's bucket on the binary's S3 server.
type ObjectStore struct {
	Endpoint  string // host:port
	Secure    bool   // https
	AccessKey string
	SecretKey string
	Region    string
	Bucket    string        // created for the test, removed when it ends
	Client    *minio.Client // a client for the server
}

// URL returns the server's base URL, http://host:port.
func (o *ObjectStore) URL() string {
	if o.Secure {
		return "https://" + o.Endpoint
	}
	return "http://" + o.Endpoint
}

// minioServer is the binary's S3 server: a started MinIO, or the one of
// TEST_S3_ENDPOINT.
type minioServer struct {
	endpoint  string
	secure    bool
	accessKey string
	secretKey string
	client    *minio.Client
	srv       *localsvc.MinIO // nil if external
	dir       string
}

const s3Region = "us-east-1"

// MinIO returns an empty bucket of t's own, emptied and removed when t ends.
func MinIO(t testing.TB) *ObjectStore {
	t.Helper()
	s, err := services.minio.get("minio", startMinIO)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket := "t-" + randomHex(12)
	if err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s3Region}); err != nil {
		t.Fatalf("harness: make bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.removeBucket(ctx, bucket); err != nil {
			t.Errorf("harness: %v", err)
		}
	})
	return &ObjectStore{
		Endpoint: s.endpoint, Secure: s.secure, AccessKey: s.accessKey, SecretKey: s.secretKey,
		Region: s3Region, Bucket: bucket, Client: s.client,
	}
}

// removeBucket deletes every object (and version) of bucket, then bucket.
func (s *minioServer) removeBucket(ctx context.Context, bucket string) error {
	objects := s.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true})
	for rerr := range s.client.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		return fmt.Errorf("empty bucket %s: %s: %w", bucket, rerr.ObjectName, rerr.Err)
	}
	if err := s.client.RemoveBucket(ctx, bucket); err != nil {
		return fmt.Errorf("remove bucket %s: %w", bucket, err)
	}
	return nil
}

// startMinIO starts the binary's MinIO, or connects to TEST_S3_ENDPOINT.
func startMinIO(ctx context.Context) (*minioServer, error) {
	if raw := os.Getenv("TEST_S3_ENDPOINT"); raw != "" {
		s := &minioServer{
			endpoint:  raw,
			accessKey: os.Getenv("TEST_S3_ACCESS_KEY"),
			secretKey: os.Getenv("TEST_S3_SECRET_KEY"),
		}
		if rest, ok := strings.CutPrefix(raw, "https://"); ok {
			s.endpoint, s.secure = rest, true
		} else {
			s.endpoint = strings.TrimPrefix(raw, "http://")
		}
		s.endpoint = strings.TrimSuffix(s.endpoint, "/")
		if err := s.connect(ctx); err != nil {
			return nil, fmt.Errorf("TEST_S3_ENDPOINT: %w", err)
		}
		return s, nil
	}

	path, err := toolPath(ctx, "minio")
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("minio")
	if err != nil {
		return nil, err
	}
	s := &minioServer{dir: dir, accessKey: "codequest", secretKey: randomHex(16)}
	s.srv, err = localsvc.StartMinIO(ctx, localsvc.MinIOSpec{
		Spec: localsvc.Spec{Dir: dir}, Binary: path, AccessKey: s.accessKey, SecretKey: s.secretKey,
	})
	if err == nil {
		s.endpoint = s.srv.Endpoint
		err = s.connect(ctx)
	}
	if err != nil {
		_ = s.stop(ctx)
		return nil, err
	}
	return s, nil
}

// connect makes the client and checks the credentials.
func (s *minioServer) connect(ctx context.Context) error {
	c, err := minio.New(s.endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.accessKey, s.secretKey, ""),
		Secure: s.secure,
		Region: s3Region,
	})
	if err != nil {
		return fmt.Errorf("make client: %w", err)
	}
	if _, err := c.ListBuckets(ctx); err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	s.client = c
	return nil
}

// stop stops the started server and removes its folder.
func (s *minioServer) stop(ctx context.Context) error {
	var errs []error
	if s.srv != nil {
		errs = append(errs, s.srv.Stop(ctx))
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove minio folder: %w", err))
		}
	}
	return joinErrors("minio", errs)
}
