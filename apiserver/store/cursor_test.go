package store

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestCursorRoundTrip(t *testing.T) {
	id := uuid.MustParse("0b9e7a52-6a4e-4d5c-9a60-5f2f0f3b1a11")
	for _, tm := range []time.Time{
		time.Date(2026, 11, 28, 22, 42, 22, 123456000, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC),
	} {
		gotT, gotID, err := DecodeCursor(EncodeCursor(tm, id))
		if err != nil {
			t.Fatalf("DecodeCursor(EncodeCursor(%v)): %v", tm, err)
		}
		if !gotT.Equal(tm) || gotID != id {
			t.Errorf("round trip of (%v, %v) = (%v, %v)", tm, id, gotT, gotID)
		}
	}
}

func TestDecodeCursorRejects(t *testing.T) {
	valid := EncodeCursor(time.Now(), uuid.New())
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	wrongVersion := append([]byte{2}, raw[1:]...)
	for name, s := range map[string]string{
		"empty":         "",
		"garbage":       "not a cursor!",
		"padded":        valid + "=",
		"truncated":     valid[:len(valid)-1],
		"longer":        valid + "AA",
		"std alphabet":  base64.StdEncoding.EncodeToString(raw),
		"wrong version": base64.RawURLEncoding.EncodeToString(wrongVersion),
	} {
		if _, _, err := DecodeCursor(s); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("%s: DecodeCursor(%q) error = %v, want ErrInvalidCursor", name, s, err)
		}
	}
}

func TestParsePage(t *testing.T) {
	tm := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	id := uuid.MustParse("9f1d1c57-8c8c-4d57-b3a6-1ef9a6c0a0e4")
	tests := []struct {
		name    string
		size    int32
		token   string
		want    Page
		wantErr error
	}{
		{name: "default", size: 0, want: Page{Size: DefaultPageSize}},
		{name: "given", size: 7, want: Page{Size: 7}},
		{name: "clamped", size: 1000, want: Page{Size: MaxPageSize}},
		{name: "negative", size: -1, wantErr: ErrInvalidPageSize},
		{name: "token", size: 5, token: EncodeCursor(tm, id), want: Page{Size: 5, AfterTime: &tm, AfterID: &id}},
		{name: "bad token", size: 5, token: "x", wantErr: ErrInvalidCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePage(tt.size, tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParsePage(%d, %q) error = %v, want %v", tt.size, tt.token, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("ParsePage(%d, %q) (-got +want):\n%s", tt.size, tt.token, diff)
			}
			if got.Limit() != got.Size+1 {
				t.Errorf("Limit() = %d, want %d", got.Limit(), got.Size+1)
			}
		})
	}
}
