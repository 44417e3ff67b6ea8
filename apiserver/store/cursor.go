package store

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

// ErrInvalidCursor is returned by DecodeCursor for a token it did not make.
var ErrInvalidCursor = errors.New("invalid page token")

// cursorVersion leads every encoded cursor so the format can change later.
const cursorVersion = 1

// cursorLen is the decoded size: version, Unix microseconds, id.
const cursorLen = 1 + 8 + 16

// EncodeCursor returns an opaque page token for keyset pagination on
// (created_at, id): the position of the last row of a page. Postgres keeps
// microseconds, so that is the precision kept.
func EncodeCursor(t time.Time, id uuid.UUID) string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(t.UnixMicro()))
	copy(b[9:], id[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor reverses EncodeCursor. Any other string yields
// ErrInvalidCursor.
func DecodeCursor(s string) (time.Time, uuid.UUID, error) {
	if base64.RawURLEncoding.DecodedLen(len(s)) != cursorLen {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	t := time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	id, err := uuid.FromBytes(b[9:])
	if err != nil {
		return time.Time{}, uuid.Nil, ErrInvalidCursor
	}
	return t, id, nil
}

// Page sizes of list RPCs.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Page is where a list request starts and how many rows it returns.
type Page struct {
	// Size is the number of rows to return (the query asks for one more to
	// learn whether another page follows).
	Size      int32
	AfterTime *time.Time
	AfterID   *uuid.UUID
}

// Errors of ParsePage, for the handler to attach to the right field.
var ErrInvalidPageSize = errors.New("invalid page size")

// ParsePage reads a request's page_size (0 means DefaultPageSize, larger
// than MaxPageSize means MaxPageSize, negative is ErrInvalidPageSize) and
// page_token ("" for the first page, else a cursor from EncodeCursor).
func ParsePage(size int32, token string) (Page, error) {
	var p Page
	switch {
	case size < 0:
		return p, ErrInvalidPageSize
	case size == 0:
		p.Size = DefaultPageSize
	case size > MaxPageSize:
		p.Size = MaxPageSize
	default:
		p.Size = size
	}
	if token == "" {
		return p, nil
	}
	t, id, err := DecodeCursor(token)
	if err != nil {
		return p, err
	}
	p.AfterTime, p.AfterID = &t, &id
	return p, nil
}

// Limit is the LIMIT to query with: one more than Size.
func (p Page) Limit() int32 { return p.Size + 1 }
