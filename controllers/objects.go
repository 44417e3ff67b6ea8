package controllers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/codequest-dev/codequest/api/v1alpha1"
	"github.com/codequest-dev/codequest/judge/jobrun"
)

// ObjectGetter reads objects from object storage.
type ObjectGetter interface {
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, error)
}

// ObjectStoreConfig locates object storage (S3 API). The credentials stay
// in the controller: judge pods get presigned URLs.
type ObjectStoreConfig struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	UseTLS    bool
}

// ObjectStore is object storage through minio-go.
type ObjectStore struct {
	client *minio.Client
}

// NewObjectStore returns an ObjectStore.
func NewObjectStore(cfg ObjectStoreConfig) (*ObjectStore, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("object storage: %w", err)
	}
	return &ObjectStore{client: c}, nil
}

// Get opens an object.
func (s *ObjectStore) Get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	o, err := s.client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	if _, err := o.Stat(); err != nil {
		o.Close()
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return o, nil
}

// PresignGet returns a URL that reads an object until ttl passes.
func (s *ObjectStore) PresignGet(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	u, err := s.client.PresignedGetObject(ctx, bucket, key, min(ttl, 7*24*time.Hour), nil)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// PresignPut returns a URL that writes an object until ttl passes.
func (s *ObjectStore) PresignPut(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
	u, err := s.client.PresignedPutObject(ctx, bucket, key, min(ttl, 7*24*time.Hour))
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// PackageCache keeps unpacked problem packages on local disk, one folder
// per checksum, each checked before it is used.
type PackageCache struct {
	objects ObjectGetter
	dir     string
	mu      sync.Mutex
}

// NewPackageCache returns a cache in dir.
func NewPackageCache(objects ObjectGetter, dir string) *PackageCache {
	return &PackageCache{objects: objects, dir: dir}
}

// Get returns the root folder of the package ref, fetching, checking
// (size, SHA-256) and unpacking it when it is not cached.
func (c *PackageCache) Get(ctx context.Context, ref v1alpha1.ObjectReference) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	final := filepath.Join(c.dir, ref.SHA256)
	if b, err := os.ReadFile(filepath.Join(final, ".root")); err == nil {
		return filepath.Join(final, string(b)), nil
	}
	data, err := c.Fetch(ctx, ref)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(c.dir, ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	root, err := jobrun.Unpack(bytes.NewReader(data), filepath.Join(tmp, "p"))
	if err != nil {
		return "", err
	}
	rel, _ := filepath.Rel(tmp, root)
	if err := os.WriteFile(filepath.Join(tmp, ".root"), []byte(rel), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return filepath.Join(final, rel), nil
}

// Fetch reads an object and checks its size and checksum.
func (c *PackageCache) Fetch(ctx context.Context, ref v1alpha1.ObjectReference) ([]byte, error) {
	rc, err := c.objects.Get(ctx, ref.Bucket, ref.Key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := jobrun.ReadVerified(rc, ref.SHA256, ref.Size)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", ref.Bucket, ref.Key, err)
	}
	return b, nil
}
