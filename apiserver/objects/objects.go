// Package objects is CodeQuest's object storage (S3 API; MinIO locally):
// problem packages, large sources, judge reports, avatars. Nothing is
// public: clients read and write through short-lived presigned URLs.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config locates the object store.
type Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	UseTLS    bool
	Bucket    string
	Region    string
}

// Store reads and writes objects in one bucket.
type Store struct {
	client *minio.Client
	bucket string
}

// ErrNotFound is returned for a missing object.
var ErrNotFound = errors.New("object not found")

// Open connects to the object store (no network call is made).
func Open(cfg Config) (*Store, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("object store client: %w", err)
	}
	return &Store{client: c, bucket: cfg.Bucket}, nil
}

// EnsureBucket creates the bucket if it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("bucket exists: %w", err)
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("make bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Ping checks that the bucket is reachable.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.BucketExists(ctx, s.bucket)
	return err
}

// PresignPut returns a URL to PUT one object of exactly size bytes before
// ttl passes, and the headers the client must send with it. The content
// type and length are signed: the store refuses any other.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, size int64, ttl time.Duration) (*url.URL, http.Header, error) {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	u, err := s.client.PresignHeader(ctx, http.MethodPut, s.bucket, key, ttl, nil, h)
	if err != nil {
		return nil, nil, fmt.Errorf("presign put %s: %w", key, err)
	}
	return u, h, nil
}

// PresignGet returns a URL to GET one object before ttl passes.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (*url.URL, error) {
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return nil, fmt.Errorf("presign get %s: %w", key, err)
	}
	return u, nil
}

// PresignGetIn returns a URL to GET an object of another bucket (judge
// reports may have their own) before ttl passes.
func (s *Store) PresignGetIn(ctx context.Context, bucket, key string, ttl time.Duration) (*url.URL, error) {
	u, err := s.client.PresignedGetObject(ctx, bucket, key, ttl, nil)
	if err != nil {
		return nil, fmt.Errorf("presign get %s/%s: %w", bucket, key, err)
	}
	return u, nil
}

// Info describes a stored object.
type Info struct {
	Size        int64
	ContentType string
	ETag        string
}

// Stat describes an object, or returns ErrNotFound.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return Info{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
		}
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return Info{Size: oi.Size, ContentType: oi.ContentType, ETag: oi.ETag}, nil
}

// Put stores an object.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	_, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Get opens an object for reading; the caller closes it.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if _, err := o.Stat(); err != nil {
		o.Close()
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return o, nil
}

// Delete removes an object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Bucket is the bucket the store writes to.
func (s *Store) Bucket() string { return s.bucket }
