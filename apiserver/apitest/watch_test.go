package apitest

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var hundred, ten []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	for i := 1; i <= 10; i++ {
		ten = append(ten, time.Duration(i))
	}
	for _, tc := range []struct {
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{hundred, 0.5, 50}, {hundred, 0.99, 99}, {hundred, 1, 100}, {hundred, 0.001, 1},
		{ten, 0.5, 5}, {ten, 0.99, 10}, {ten, 0.9, 9},
		{[]time.Duration{7}, 0.99, 7},
	} {
		if got := Percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("Percentile(%d samples, %v) = %v, want %v", len(tc.d), tc.p, got, tc.want)
		}
	}
}
