package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBurstThenRefill(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	lm := New(c.now)
	l := PerWindow(150, 5*time.Minute, 30) // one token every 2s
	for i := range 30 {
		if ok, _ := lm.Allow("k", l); !ok {
			t.Fatalf("request %d refused inside the burst", i)
		}
	}
	ok, retry := lm.Allow("k", l)
	if ok {
		t.Fatal("request 31 allowed past the burst")
	}
	if retry <= 0 || retry > 2*time.Second {
		t.Errorf("retry = %v, want (0, 2s]", retry)
	}
	if ok, _ := lm.Allow("other", l); !ok {
		t.Error("another key shares the bucket")
	}
	c.t = c.t.Add(2 * time.Second)
	if ok, _ := lm.Allow("k", l); !ok {
		t.Error("no token after one refill period")
	}
	if ok, _ := lm.Allow("k", l); ok {
		t.Error("two tokens after one refill period")
	}
	c.t = c.t.Add(time.Hour)
	for i := range 30 {
		if ok, _ := lm.Allow("k", l); !ok {
			t.Fatalf("refilled bucket refused request %d", i)
		}
	}
}

func TestUnlimited(t *testing.T) {
	lm := New(nil)
	for range 1000 {
		if ok, _ := lm.Allow("k", PerWindow(0, time.Minute, 0)); !ok {
			t.Fatal("zero limit refused")
		}
	}
	if lm.Len() != 0 {
		t.Errorf("unlimited calls created %d buckets", lm.Len())
	}
}

func TestSweepForgetsIdleBuckets(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	lm := New(c.now)
	l := PerWindow(60, time.Minute, 5)
	for i := range 2000 {
		lm.Allow(fmt.Sprint("ip", i), l)
	}
	c.t = c.t.Add(2 * time.Hour)
	lm.Allow("fresh", l)
	if n := lm.Len(); n != 1 {
		t.Errorf("after sweep %d buckets, want 1", n)
	}
}
