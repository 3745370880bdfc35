package redistest

import "testing"

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.port); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if ping(s.port) == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Restart()
	if err := ping(s.port); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
