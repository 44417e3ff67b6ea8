package passwords

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProblem(t *testing.T) {
	for _, tc := range []struct {
		pw, email string
		ok        bool
	}{
		{"Abcdefg1", "", false},       // "abcdefg" is common
		{"Password1", "", false},      // the attacker's example
		{"Password1!", "", false},     // suffixes do not help
		{"Qwerty123", "", false},      // common
		{"Trustno1", "", false},       // common
		{"Correct-Horse-9", "", true}, // apitest's password
		{"Learn-to-code-1", "", true}, // apitest.SignUp's
		{"CodeQuest-dev1", "", true},  // codequest dev's
		{"Ünïcödé1x", "", true},       // any script
		{"abcdefg1", "", false},       // no upper case
		{"Abc1", "", false},           // short
		{strings.Repeat("Aa1", 43), "", false},
		{"Ada.Lovelace9", "ada.lovelace@example.com", false},
		{"Xada.lovelace@example.com1", "ada.lovelace@example.com", false},
		{"Engine-Analytical-7", "ada@example.com", true}, // "ada" is too short to matter...
	} {
		got := Problem(tc.pw, tc.email)
		if (got == "") != tc.ok {
			t.Errorf("Problem(%q, %q) = %q, want ok %v", tc.pw, tc.email, got, tc.ok)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(1, time.Hour)
	inside, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = l.Do(context.Background(), func() { close(inside); <-release })
	}()
	<-inside
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Do(ctx, func() { t.Error("ran without a slot") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a full limiter and a cancelled context = %v", err)
	}
	busy := NewLimiter(1, 0)
	busy.slots <- struct{}{}
	if err := busy.Do(context.Background(), func() { t.Error("ran without a slot") }); !errors.Is(err, ErrBusy) {
		t.Errorf("Do past the wait = %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	ran := false
	if err := l.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Errorf("Do with a free slot = %v, ran %v", err, ran)
	}
}
